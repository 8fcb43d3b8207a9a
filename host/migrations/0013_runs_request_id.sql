-- The id of the HTTP request that started a run (the caller's `x-request-id`, or the host's), so
-- an operator can go from a run to its log lines and back.
ALTER TABLE runs ADD COLUMN request_id TEXT;
