-- Fewer writes per run (issue 11). The running attempt lives on its run
-- row: the claim sets attempt_started_at, lease_until and attempt_epoch
-- there, heartbeats renew runs.lease_until, and the attempts row is
-- written once, complete, when the attempt ends (finish or reap). The
-- attempts table thus holds ended attempts only and needs no secondary
-- index; the reaper finds expired leases through runs_status_due, whose
-- entry moves on every status change anyway, replaces
-- runs_status_not_before (docs/design.md, "Indexes and the queries that
-- use them").

-- +goose Up
ALTER TABLE runs
    ADD COLUMN attempt_started_at DATETIME(6) NULL,
    ADD COLUMN lease_until DATETIME(6) NULL,
    ADD COLUMN attempt_epoch BIGINT NOT NULL DEFAULT 0,
    DROP INDEX runs_status_not_before,
    ADD KEY runs_status_due (status, not_before, lease_until);
UPDATE runs r JOIN attempts a ON a.run_id = r.id AND a.number = r.attempt AND a.status = 'running'
    SET r.attempt_started_at = a.started_at, r.lease_until = a.lease_until, r.attempt_epoch = a.epoch
    WHERE r.status = 'running';
DELETE FROM attempts WHERE status = 'running';
ALTER TABLE attempts DROP INDEX attempts_status_lease, DROP INDEX attempts_node_status;

-- +goose Down
INSERT INTO attempts (run_id, number, node, status, started_at, lease_until, epoch, error, output, output_dropped)
    SELECT id, attempt, node, 'running', COALESCE(attempt_started_at, started_at, not_before),
        COALESCE(lease_until, not_before), attempt_epoch, '', '', 0
    FROM runs WHERE status = 'running';
ALTER TABLE attempts ADD KEY attempts_status_lease (status, lease_until), ADD KEY attempts_node_status (node, status);
ALTER TABLE runs
    DROP INDEX runs_status_due,
    ADD KEY runs_status_not_before (status, not_before),
    DROP COLUMN attempt_started_at,
    DROP COLUMN lease_until,
    DROP COLUMN attempt_epoch;
