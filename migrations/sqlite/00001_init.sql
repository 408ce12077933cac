-- Times are INTEGER microseconds since the Unix epoch, UTC, so that ordering
-- and range filters compare numbers.

-- +goose Up
CREATE TABLE IF NOT EXISTS runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    job              TEXT    NOT NULL,
    digest           TEXT    NOT NULL DEFAULT '',
    scheduled_at     INTEGER NOT NULL,
    -- tick_key is scheduled_at for schedule and catchup rows (I1) and NULL
    -- for manual runs, whose NULLs never collide.
    tick_key         INTEGER NULL,
    trig             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 1,
    node             TEXT    NOT NULL DEFAULT '',
    not_before       INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    enqueued_at      INTEGER NULL,
    started_at       INTEGER NULL,
    finished_at      INTEGER NULL,
    exit_code        INTEGER NULL,
    error            TEXT    NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_job_tick ON runs (job, tick_key);
CREATE INDEX IF NOT EXISTS runs_status_not_before ON runs (status, not_before);
CREATE INDEX IF NOT EXISTS runs_job_status_id ON runs (job, status, id);
CREATE INDEX IF NOT EXISTS runs_job_scheduled ON runs (job, scheduled_at, id);
CREATE INDEX IF NOT EXISTS runs_status_scheduled ON runs (status, scheduled_at, id);
CREATE INDEX IF NOT EXISTS runs_trig_scheduled ON runs (trig, scheduled_at, id);
CREATE INDEX IF NOT EXISTS runs_scheduled ON runs (scheduled_at, id);

CREATE TABLE IF NOT EXISTS attempts (
    run_id         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    number         INTEGER NOT NULL,
    node           TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER NULL,
    lease_until    INTEGER NOT NULL,
    exit_code      INTEGER NULL,
    error          TEXT    NOT NULL DEFAULT '',
    output         TEXT    NOT NULL DEFAULT '',
    output_dropped INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, number)
);
CREATE INDEX IF NOT EXISTS attempts_status_lease ON attempts (status, lease_until);
CREATE INDEX IF NOT EXISTS attempts_node_status ON attempts (node, status);

CREATE TABLE IF NOT EXISTS job_state (
    job         TEXT    PRIMARY KEY,
    paused      INTEGER NOT NULL DEFAULT 0,
    tick_cursor INTEGER NULL
);

CREATE TABLE IF NOT EXISTS leader (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    epoch      INTEGER NOT NULL,
    node       TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NULL
);
INSERT INTO leader (id, epoch, node) VALUES (1, 0, '') ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS nodes (
    id         TEXT    PRIMARY KEY,
    host       TEXT    NOT NULL DEFAULT '',
    role       TEXT    NOT NULL DEFAULT '',
    version    TEXT    NOT NULL DEFAULT '',
    digest     TEXT    NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    heartbeat  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS nodes_heartbeat ON nodes (heartbeat);

-- +goose Down
DROP TABLE IF EXISTS nodes;
DROP TABLE IF EXISTS leader;
DROP TABLE IF EXISTS job_state;
DROP TABLE IF EXISTS attempts;
DROP TABLE IF EXISTS runs;
