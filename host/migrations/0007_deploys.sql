-- Releases of each project's site and which one is live. A release is immutable once written; the
-- live pointer is one row, switched in one statement after every file of a release is in place.

CREATE TABLE deploys (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    files BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- When it stopped being live: it is kept a grace period after, for pages still loading.
    retired_at BIGINT
);

CREATE INDEX deploys_by_project ON deploys (project_id, created_at);

CREATE TABLE deploy_live (
    project_id TEXT PRIMARY KEY,
    deploy_id TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);
