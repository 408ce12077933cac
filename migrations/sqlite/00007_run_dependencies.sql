-- Dependencies (after:, docs/design.md#dependencies). A dependent run is
-- keyed by dep_key, unique per job like tick_key (I1): 't:<tick>' for a
-- run that follows the runs of an upstream tick, 'r:<upstream run id>'
-- for one that follows a single run. It is NULL on every other row, and a
-- dependent's own schedule rows keep their tick_key, so the two keys never
-- collide. deps_pending marks a run whose dependents the leader still has
-- to decide once it ends (1; 2 while it ended and a fan-in waits for the
-- other upstreams); it is set when the run is created by a leader whose
-- config gives the job dependents, and cleared (0) in the transaction
-- that inserts them. run_upstreams links a dependent run to the upstream
-- runs it followed (both directions are read: upstream and downstream).

-- +goose Up
ALTER TABLE runs ADD COLUMN dep_key TEXT NULL;
ALTER TABLE runs ADD COLUMN deps_pending INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX IF NOT EXISTS runs_job_dep ON runs (job, dep_key);
CREATE INDEX IF NOT EXISTS runs_deps_pending ON runs (deps_pending, id);
CREATE TABLE IF NOT EXISTS run_upstreams (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    upstream_id INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (run_id, upstream_id)
);
CREATE INDEX IF NOT EXISTS run_upstreams_upstream ON run_upstreams (upstream_id, run_id);

-- +goose Down
DROP TABLE IF EXISTS run_upstreams;
DROP INDEX IF EXISTS runs_deps_pending;
DROP INDEX IF EXISTS runs_job_dep;
ALTER TABLE runs DROP COLUMN deps_pending;
ALTER TABLE runs DROP COLUMN dep_key;
