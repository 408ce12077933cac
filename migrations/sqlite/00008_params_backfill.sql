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
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    job            TEXT    NOT NULL,
    range_from     INTEGER NOT NULL,
    range_to       INTEGER NOT NULL,
    max_concurrent INTEGER NOT NULL DEFAULT 0,
    actor          TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS backfills_job_range ON backfills (job, range_from, range_to);
ALTER TABLE runs ADD COLUMN params TEXT NULL;
ALTER TABLE runs ADD COLUMN backfill_id INTEGER NULL;
CREATE INDEX IF NOT EXISTS runs_backfill_status ON runs (backfill_id, status, scheduled_at);

-- +goose Down
DROP INDEX IF EXISTS runs_backfill_status;
ALTER TABLE runs DROP COLUMN backfill_id;
ALTER TABLE runs DROP COLUMN params;
DROP TABLE IF EXISTS backfills;
