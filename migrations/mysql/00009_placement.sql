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
ALTER TABLE runs
    ADD COLUMN IF NOT EXISTS shard INT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS shard_total INT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS pinned_node VARCHAR(191) NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS run_on_labels VARCHAR(2200) NOT NULL DEFAULT '',
    DROP INDEX IF EXISTS runs_job_tick,
    ADD UNIQUE KEY IF NOT EXISTS runs_job_tick_shard (job, tick_key, shard),
    ADD KEY IF NOT EXISTS runs_status_pin (status, pinned_node);
ALTER TABLE nodes ADD COLUMN IF NOT EXISTS labels VARCHAR(2200) NOT NULL DEFAULT '';

-- +goose Down
-- Shards beyond the first give up their tick key (their rows stay in
-- history) so that the old one-row-per-tick key can come back.
UPDATE runs SET tick_key = NULL WHERE shard > 0;
ALTER TABLE nodes DROP COLUMN IF EXISTS labels;
ALTER TABLE runs
    DROP INDEX IF EXISTS runs_status_pin,
    DROP INDEX IF EXISTS runs_job_tick_shard,
    ADD UNIQUE KEY IF NOT EXISTS runs_job_tick (job, tick_key),
    DROP COLUMN IF EXISTS run_on_labels,
    DROP COLUMN IF EXISTS pinned_node,
    DROP COLUMN IF EXISTS shard_total,
    DROP COLUMN IF EXISTS shard;
