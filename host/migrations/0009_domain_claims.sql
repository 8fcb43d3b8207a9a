-- Custom-domain claims waiting for their proof of ownership: a DNS TXT record at
-- `_blink-challenge.{hostname}` holding the claim's token. Several projects may claim one name at
-- once; the first proven moves to `domains` (and is served) and the others are dropped. A claim
-- not proven within the configured time is not honoured and is swept.
CREATE TABLE domain_claims (
    hostname TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (hostname, project_id)
);

CREATE INDEX domain_claims_by_project ON domain_claims (project_id);
