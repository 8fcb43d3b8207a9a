-- Each stored component's bytes, by content hash, so that every host on this database can load
-- any version (a host keeps a copy in its data directory as a cache). Versions stored before
-- this table existed are copied in from the data directory that holds them at its next start.
CREATE TABLE plugin_blobs (
    version TEXT PRIMARY KEY,
    bytes BYTEA NOT NULL
);
