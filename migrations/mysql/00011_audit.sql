-- The audit trail (issue 14): one row per change an operator made
-- (trigger, pause, resume, cancel, backfill, cancel_backfill), written in
-- the same transaction as the change; at is the store's clock. Prune
-- deletes rows older than the history retention and beyond the newest
-- storage.AuditKeep.

-- +goose Up
CREATE TABLE IF NOT EXISTS audit (
    id     BIGINT        NOT NULL AUTO_INCREMENT,
    at     DATETIME(6)   NOT NULL,
    actor  VARCHAR(191)  NOT NULL,
    source VARCHAR(16)   NOT NULL,
    action VARCHAR(32)   NOT NULL,
    target VARCHAR(255)  NOT NULL,
    detail TEXT          NOT NULL,
    PRIMARY KEY (id),
    KEY audit_at (at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS audit;
