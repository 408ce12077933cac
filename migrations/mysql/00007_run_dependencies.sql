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
ALTER TABLE runs
    ADD COLUMN dep_key VARCHAR(64) NULL,
    ADD COLUMN deps_pending TINYINT NOT NULL DEFAULT 0,
    ADD UNIQUE KEY runs_job_dep (job, dep_key),
    ADD KEY runs_deps_pending (deps_pending, id);
CREATE TABLE IF NOT EXISTS run_upstreams (
    run_id      BIGINT NOT NULL,
    upstream_id BIGINT NOT NULL,
    position    INT    NOT NULL,
    PRIMARY KEY (run_id, upstream_id),
    KEY run_upstreams_upstream (upstream_id, run_id),
    CONSTRAINT run_upstreams_run FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS run_upstreams;
ALTER TABLE runs
    DROP INDEX runs_deps_pending,
    DROP INDEX runs_job_dep,
    DROP COLUMN deps_pending,
    DROP COLUMN dep_key;
