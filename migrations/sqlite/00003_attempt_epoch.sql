-- The leader epoch in force when an attempt was claimed: part of the
-- attempt's fencing token (epoch, run, attempt), handed to the job as
-- TOCK_FENCE and X-Tock-Fence so that it can refuse a stale attempt.

-- +goose Up
ALTER TABLE attempts ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE attempts DROP COLUMN epoch;
