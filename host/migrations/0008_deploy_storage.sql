-- A release's manifest (JSON): each file's path, content hash, size and the release whose storage
-- holds its bytes, since an unchanged file is not uploaded again. `store` says where releases'
-- bytes are ('local' or 's3'); `state` is 'uploading' until every object is stored, and a release
-- that never completed is swept by the next cleanup.
ALTER TABLE deploys ADD COLUMN manifest TEXT;
ALTER TABLE deploys ADD COLUMN store TEXT NOT NULL DEFAULT 'local';
ALTER TABLE deploys ADD COLUMN state TEXT NOT NULL DEFAULT 'complete';

-- Custom domains: one owner each, across all users.
CREATE TABLE domains (
    hostname TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- The Cloudflare for SaaS custom hostname, when Cloudflare is configured.
    cf_hostname_id TEXT,
    -- Cloudflare's certificate status ('pending_validation', 'active', …); 'none' without Cloudflare.
    ssl_status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX domains_by_project ON domains (project_id);

-- The proxied DNS record of each project's default host name.
CREATE TABLE site_dns (
    project_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL
);
