-- Versions of each agent role that operators uploaded (the bytes live in the data directory,
-- named by their hash), and which one is active. No row in plugin_active: the built-in agent.

CREATE TABLE plugin_versions (
    role TEXT NOT NULL,
    version TEXT NOT NULL,
    size BIGINT NOT NULL,
    contract TEXT NOT NULL,
    author TEXT NOT NULL,
    notes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (role, version)
);

CREATE TABLE plugin_active (
    role TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    previous TEXT,
    changed_at BIGINT NOT NULL
);
