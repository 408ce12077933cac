-- The leader polls the paused jobs every second; with a million jobs a
-- scan of job_state would cost more than everything else it does.

-- +goose Up
CREATE INDEX job_state_paused ON job_state (paused);

-- +goose Down
DROP INDEX job_state_paused ON job_state;
