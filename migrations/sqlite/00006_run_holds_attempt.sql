-- Fewer writes per run (issue 11). The running attempt lives on its run
-- row: the claim sets attempt_started_at, lease_until and attempt_epoch
-- there, heartbeats renew runs.lease_until, and the attempts row is
-- written once, complete, when the attempt ends (finish or reap). The
-- attempts table thus holds ended attempts only and needs no secondary
-- index; the reaper finds expired leases through runs_status_due, which
-- replaces runs_status_not_before (docs/design.md, "Indexes and the
-- queries that use them").

-- +goose Up
ALTER TABLE runs ADD COLUMN attempt_started_at INTEGER NULL;
ALTER TABLE runs ADD COLUMN lease_until INTEGER NULL;
ALTER TABLE runs ADD COLUMN attempt_epoch INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS runs_status_not_before;
CREATE INDEX IF NOT EXISTS runs_status_due ON runs (status, not_before, lease_until);
UPDATE runs SET
    attempt_started_at = (SELECT a.started_at FROM attempts a WHERE a.run_id = runs.id AND a.number = runs.attempt AND a.status = 'running'),
    lease_until = (SELECT a.lease_until FROM attempts a WHERE a.run_id = runs.id AND a.number = runs.attempt AND a.status = 'running'),
    attempt_epoch = COALESCE((SELECT a.epoch FROM attempts a WHERE a.run_id = runs.id AND a.number = runs.attempt AND a.status = 'running'), 0)
    WHERE status = 'running';
DELETE FROM attempts WHERE status = 'running';
DROP INDEX IF EXISTS attempts_status_lease;
DROP INDEX IF EXISTS attempts_node_status;

-- +goose Down
INSERT INTO attempts (run_id, number, node, status, started_at, lease_until, epoch, error, output, output_dropped)
    SELECT id, attempt, node, 'running', COALESCE(attempt_started_at, started_at, not_before),
        COALESCE(lease_until, not_before), attempt_epoch, '', '', 0
    FROM runs WHERE status = 'running';
CREATE INDEX IF NOT EXISTS attempts_status_lease ON attempts (status, lease_until);
CREATE INDEX IF NOT EXISTS attempts_node_status ON attempts (node, status);
DROP INDEX IF EXISTS runs_status_due;
CREATE INDEX IF NOT EXISTS runs_status_not_before ON runs (status, not_before);
ALTER TABLE runs DROP COLUMN attempt_epoch;
ALTER TABLE runs DROP COLUMN lease_until;
ALTER TABLE runs DROP COLUMN attempt_started_at;
