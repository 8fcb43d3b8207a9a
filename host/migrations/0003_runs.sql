-- Every orchestration: who asked, which agent versions served it, what it cost, how it ended, and
-- each event the client was sent, in order.

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    project_id TEXT,
    request TEXT NOT NULL,
    agents TEXT NOT NULL,
    outcome TEXT NOT NULL,
    model_calls BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL
);

CREATE INDEX runs_by_user ON runs (user_id, created_at);

CREATE TABLE run_events (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
