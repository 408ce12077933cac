-- The leader lease kept in the store: the authority behind the Redis lease
-- and the lease itself while Redis is unreachable (docs/design.md, lease
-- fallback). A leader holds the Redis lease and this row, or this row
-- alone; lease_until is in the store's clock.

-- +goose Up
ALTER TABLE leader ADD COLUMN lease_node TEXT NOT NULL DEFAULT '';
ALTER TABLE leader ADD COLUMN lease_token TEXT NOT NULL DEFAULT '';
ALTER TABLE leader ADD COLUMN lease_backend TEXT NOT NULL DEFAULT '';
ALTER TABLE leader ADD COLUMN lease_until INTEGER NULL;

-- +goose Down
ALTER TABLE leader DROP COLUMN lease_until;
ALTER TABLE leader DROP COLUMN lease_backend;
ALTER TABLE leader DROP COLUMN lease_token;
ALTER TABLE leader DROP COLUMN lease_node;
