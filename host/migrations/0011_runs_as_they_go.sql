-- A run is written when it starts (outcome {"kind": "running"}, finished_at 0) by the host
-- instance that runs it, its events as they are sent, its outcome when it ends; a run whose host
-- died is marked {"kind": "interrupted"} by any other host.
ALTER TABLE runs ADD COLUMN instance_id TEXT;
