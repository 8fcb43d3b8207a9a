-- Per-project pipelines (pinned agent versions, extra validators), the canary of each role, and
-- agent settings operators change at run time. Settings and pipelines are JSON the host writes.

CREATE TABLE project_pipelines (
    project_id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE plugin_canaries (
    role TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    -- Parts per million of new runs: an integer, so both databases store the share exactly.
    share_ppm BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);

CREATE TABLE agent_settings (
    role TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
