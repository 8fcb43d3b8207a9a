-- A release being uploaded names the host instance uploading it: when that host dies, any other
-- marks the upload failed (and the next prune removes its bytes) instead of waiting hours.
ALTER TABLE deploys ADD COLUMN instance_id TEXT;
