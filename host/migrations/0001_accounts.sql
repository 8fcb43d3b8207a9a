-- Users, projects, credits and runs. Portable SQL: the same file runs on SQLite and PostgreSQL.
-- Times are Unix milliseconds; amounts are integer micro-credits (1 credit = 1,000,000).

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT,
    balance BIGINT NOT NULL CHECK (balance >= 0),
    created_at BIGINT NOT NULL
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX projects_by_owner ON projects (owner_id, created_at);
