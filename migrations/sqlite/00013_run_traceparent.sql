-- Tracing (issue 14): the W3C traceparent of the leader's dispatch span,
-- written in the same INSERT as the run and read back by the claims, so
-- that whichever replica claims the run (from the queue or by polling the
-- store, on every attempt) continues the run's trace. NULL when the leader
-- does not trace.

-- +goose Up
ALTER TABLE runs ADD COLUMN traceparent TEXT;

-- +goose Down
ALTER TABLE runs DROP COLUMN traceparent;
