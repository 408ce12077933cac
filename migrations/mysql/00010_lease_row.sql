-- The leader lease kept in the store: the authority behind the Redis lease
-- and the lease itself while Redis is unreachable (docs/design.md, lease
-- fallback). A leader holds the Redis lease and this row, or this row
-- alone; lease_until is in the store's clock.

-- +goose Up
ALTER TABLE leader
    ADD COLUMN lease_node VARCHAR(191) NOT NULL DEFAULT '',
    ADD COLUMN lease_token VARCHAR(64) NOT NULL DEFAULT '',
    ADD COLUMN lease_backend VARCHAR(16) NOT NULL DEFAULT '',
    ADD COLUMN lease_until DATETIME(6) NULL;

-- +goose Down
ALTER TABLE leader
    DROP COLUMN lease_until,
    DROP COLUMN lease_backend,
    DROP COLUMN lease_token,
    DROP COLUMN lease_node;
