-- Placement (run_on) and broadcast shards. A broadcast tick is one row per
-- shard: the tick's unique key becomes (job, tick_key, shard), shard 0 for
-- every other run, so I1 still allows exactly one row per tick of an
-- ordinary job, and exactly one row per shard of a broadcast tick.
-- shard_total is 0 for runs that are not shards. pinned_node is the node a
-- shard is pinned to ('' once released); run_on_labels the labels a
-- replica must carry to claim the run (text form, "k=v,k2=v2").
-- runs_status_pin finds the queued pinned shards whose node died
-- (ReleasePins) without reading the other queued runs. nodes.labels are
-- each replica's --labels.

-- +goose Up
ALTER TABLE runs ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN shard_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN pinned_node TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN run_on_labels TEXT NOT NULL DEFAULT '';
DROP INDEX IF EXISTS runs_job_tick;
CREATE UNIQUE INDEX IF NOT EXISTS runs_job_tick_shard ON runs (job, tick_key, shard);
CREATE INDEX IF NOT EXISTS runs_status_pin ON runs (status, pinned_node);
ALTER TABLE nodes ADD COLUMN labels TEXT NOT NULL DEFAULT '';

-- +goose Down
-- Shards beyond the first give up their tick key (their rows stay in
-- history) so that the old one-row-per-tick key can come back.
UPDATE runs SET tick_key = NULL WHERE shard > 0;
ALTER TABLE nodes DROP COLUMN labels;
DROP INDEX IF EXISTS runs_status_pin;
DROP INDEX IF EXISTS runs_job_tick_shard;
CREATE UNIQUE INDEX IF NOT EXISTS runs_job_tick ON runs (job, tick_key);
ALTER TABLE runs DROP COLUMN run_on_labels;
ALTER TABLE runs DROP COLUMN pinned_node;
ALTER TABLE runs DROP COLUMN shard_total;
ALTER TABLE runs DROP COLUMN shard;
