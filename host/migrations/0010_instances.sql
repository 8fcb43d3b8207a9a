-- Each host process while it runs, with a heartbeat: any host can tell one that died (SIGKILL,
-- OOM, power loss) and take over what it left, on one SQLite file or one PostgreSQL shared by many.
CREATE TABLE host_instances (
    id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Credits held for a model call in flight, by the instance that will settle them. A settlement
-- and a return of an orphan both start by deleting the row: whichever deletes it moves the credits,
-- so a reservation is never both settled and returned.
CREATE TABLE credit_reservations (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    run_id TEXT,
    model TEXT,
    amount BIGINT NOT NULL,
    instance_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX credit_reservations_by_instance ON credit_reservations (instance_id);
