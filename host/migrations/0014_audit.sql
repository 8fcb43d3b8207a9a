-- Every change an operator made through the admin API: who (the admin token, or an admin's user
-- id), what (method and path), and how it was answered, so the console can show who did what.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT NOT NULL,
    detail TEXT NOT NULL
);

CREATE INDEX audit_log_by_time ON audit_log (at);
