-- The audit trail (issue 14): one row per change an operator made
-- (trigger, pause, resume, cancel, backfill, cancel_backfill), written in
-- the same transaction as the change; at is the store's clock. Prune
-- deletes rows older than the history retention and beyond the newest
-- storage.AuditKeep.

-- +goose Up
CREATE TABLE IF NOT EXISTS audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    source TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    detail TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);

-- +goose Down
DROP INDEX IF EXISTS audit_at;
DROP TABLE IF EXISTS audit;
