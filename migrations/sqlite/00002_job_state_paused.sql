-- The leader polls the paused jobs every second; with a million jobs a
-- scan of job_state would cost more than everything else it does.

-- +goose Up
CREATE INDEX IF NOT EXISTS job_state_paused ON job_state (paused);

-- +goose Down
DROP INDEX IF EXISTS job_state_paused;
