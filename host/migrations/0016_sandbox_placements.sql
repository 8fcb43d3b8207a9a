-- Where each project's sandbox runs: the host that started it and the URL the other hosts reach
-- that host by, so a preview's requests reaching any host are passed on to the one running it.
-- A row whose host has stopped beating its heartbeat is ignored and replaced.
CREATE TABLE sandbox_placements (
    project TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    host_url TEXT NOT NULL,
    address TEXT NOT NULL,
    placed_at BIGINT NOT NULL
);
