-- Parameters and backfills (issue 12). runs.params holds the parameters a
-- manual trigger set, as a JSON object (NULL: the job's defaults).
-- A backfill creates scheduled runs for past ticks, holding their tick keys
-- like scheduled runs (I1); backfills records each backfill once per
-- (job, range), and runs.backfill_id ties its runs to it so that the
-- leader promotes at most max_concurrent of them at a time
-- (runs_backfill_status: the waiting and active runs of one backfill, and
-- the waiting runs of none, in due order).

-- +goose Up
CREATE TABLE IF NOT EXISTS backfills (
    id             BIGINT       NOT NULL AUTO_INCREMENT,
    job            VARCHAR(191) NOT NULL,
    range_from     DATETIME(6)  NOT NULL,
    range_to       DATETIME(6)  NOT NULL,
    max_concurrent INT          NOT NULL DEFAULT 0,
    actor          VARCHAR(191) NOT NULL DEFAULT '',
    created_at     DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY backfills_job_range (job, range_from, range_to)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
ALTER TABLE runs
    ADD COLUMN params TEXT NULL,
    ADD COLUMN backfill_id BIGINT NULL,
    ADD KEY runs_backfill_status (backfill_id, status, scheduled_at);

-- +goose Down
ALTER TABLE runs
    DROP INDEX runs_backfill_status,
    DROP COLUMN backfill_id,
    DROP COLUMN params;
DROP TABLE IF EXISTS backfills;
