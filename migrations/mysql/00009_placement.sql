-- Placement (run_on) and broadcast shards. A broadcast tick is one row per
-- shard: the tick's unique key becomes (job, tick_key, shard), shard 0 for
-- every other run, so I1 still allows exactly one row per tick of an
-- ordinary job, and exactly one row per shard of a broadcast tick.
-- shard_total is 0 for runs that are not shards. pinned_node is the node a
-- shard is pinned to ('' once released); run_on_labels the labels a
-- replica must carry to claim the run (text form, "k=v,k2=v2").
-- runs_status_pin finds the queued pinned shards whose node died
-- (ReleasePins) without reading the other queued runs. nodes.labels are
-- each replica's --labels. Plain MySQL 8 / MariaDB syntax; each ALTER
-- changes its table in one statement.

-- +goose Up
ALTER TABLE runs
    ADD COLUMN shard INT NOT NULL DEFAULT 0,
    ADD COLUMN shard_total INT NOT NULL DEFAULT 0,
    ADD COLUMN pinned_node VARCHAR(191) NOT NULL DEFAULT '',
    ADD COLUMN run_on_labels VARCHAR(2200) NOT NULL DEFAULT '',
    DROP INDEX runs_job_tick,
    ADD UNIQUE KEY runs_job_tick_shard (job, tick_key, shard),
    ADD KEY runs_status_pin (status, pinned_node);
ALTER TABLE nodes ADD COLUMN labels VARCHAR(2200) NOT NULL DEFAULT '';

-- +goose Down
-- Shards beyond the first give up their tick key (their rows stay in
-- history) so that the old one-row-per-tick key can come back.
UPDATE runs SET tick_key = NULL WHERE shard > 0;
ALTER TABLE nodes DROP COLUMN labels;
ALTER TABLE runs
    DROP INDEX runs_status_pin,
    DROP INDEX runs_job_tick_shard,
    ADD UNIQUE KEY runs_job_tick (job, tick_key),
    DROP COLUMN run_on_labels,
    DROP COLUMN pinned_node,
    DROP COLUMN shard_total,
    DROP COLUMN shard;
