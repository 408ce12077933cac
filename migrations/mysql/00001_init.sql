-- Times are DATETIME(6) in UTC (the store's sessions run with
-- time_zone '+00:00'). Text compares byte-wise (utf8mb4_bin), as in SQLite.
-- DDL commits implicitly in MySQL, so every statement is idempotent: a
-- migration interrupted half-way is finished by the next run.

-- +goose Up
CREATE TABLE IF NOT EXISTS runs (
    id               BIGINT       NOT NULL AUTO_INCREMENT,
    job              VARCHAR(191) NOT NULL,
    digest           VARCHAR(128) NOT NULL DEFAULT '',
    scheduled_at     DATETIME(6)  NOT NULL,
    -- tick_key is scheduled_at for schedule and catchup rows (I1) and NULL
    -- for manual runs, whose NULLs never collide.
    tick_key         DATETIME(6)  NULL,
    trig             VARCHAR(16)  NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    attempt          INT          NOT NULL DEFAULT 0,
    max_attempts     INT          NOT NULL DEFAULT 1,
    node             VARCHAR(191) NOT NULL DEFAULT '',
    not_before       DATETIME(6)  NOT NULL,
    created_at       DATETIME(6)  NOT NULL,
    enqueued_at      DATETIME(6)  NULL,
    started_at       DATETIME(6)  NULL,
    finished_at      DATETIME(6)  NULL,
    exit_code        INT          NULL,
    error            TEXT         NOT NULL,
    cancel_requested TINYINT(1)   NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY runs_job_tick (job, tick_key),
    KEY runs_status_not_before (status, not_before),
    KEY runs_job_status_id (job, status, id),
    KEY runs_job_scheduled (job, scheduled_at, id),
    KEY runs_status_scheduled (status, scheduled_at, id),
    KEY runs_trig_scheduled (trig, scheduled_at, id),
    KEY runs_scheduled (scheduled_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS attempts (
    run_id         BIGINT       NOT NULL,
    number         INT          NOT NULL,
    node           VARCHAR(191) NOT NULL,
    status         VARCHAR(16)  NOT NULL,
    started_at     DATETIME(6)  NOT NULL,
    finished_at    DATETIME(6)  NULL,
    lease_until    DATETIME(6)  NOT NULL,
    exit_code      INT          NULL,
    error          TEXT         NOT NULL,
    output         MEDIUMTEXT   NOT NULL,
    output_dropped BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, number),
    KEY attempts_status_lease (status, lease_until),
    KEY attempts_node_status (node, status),
    CONSTRAINT attempts_run FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS job_state (
    job         VARCHAR(191) NOT NULL,
    paused      TINYINT(1)   NOT NULL DEFAULT 0,
    tick_cursor DATETIME(6)  NULL,
    PRIMARY KEY (job)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS leader (
    id         TINYINT      NOT NULL,
    epoch      BIGINT       NOT NULL,
    node       VARCHAR(191) NOT NULL DEFAULT '',
    updated_at DATETIME(6)  NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT IGNORE INTO leader (id, epoch, node) VALUES (1, 0, '');

CREATE TABLE IF NOT EXISTS nodes (
    id         VARCHAR(191) NOT NULL,
    host       VARCHAR(255) NOT NULL DEFAULT '',
    role       VARCHAR(32)  NOT NULL DEFAULT '',
    version    VARCHAR(128) NOT NULL DEFAULT '',
    digest     VARCHAR(128) NOT NULL DEFAULT '',
    started_at DATETIME(6)  NOT NULL,
    heartbeat  DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY nodes_heartbeat (heartbeat)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS nodes;
DROP TABLE IF EXISTS leader;
DROP TABLE IF EXISTS job_state;
DROP TABLE IF EXISTS attempts;
DROP TABLE IF EXISTS runs;
