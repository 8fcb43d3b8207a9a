-- Each project's git remote: URL (no credentials in it), branch, and the token sealed with the
-- host's secret key.

CREATE TABLE project_git (
    project_id TEXT PRIMARY KEY,
    remote_url TEXT NOT NULL,
    branch TEXT NOT NULL,
    token TEXT,
    updated_at BIGINT NOT NULL
);
