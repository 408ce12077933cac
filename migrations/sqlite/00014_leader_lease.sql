-- The lease row gets a table of its own (issue 11): in the leader row, a
-- renewal waited for the lock every fenced dispatch holds until it
-- commits. SQLite locks the whole database for a write anyway; the table
-- is here so that both engines share one schema. The leader row's lease_*
-- columns stay, unused.

-- +goose Up
CREATE TABLE IF NOT EXISTS leader_lease (
    id            INTEGER NOT NULL PRIMARY KEY,
    lease_node    TEXT    NOT NULL DEFAULT '',
    lease_token   TEXT    NOT NULL DEFAULT '',
    lease_backend TEXT    NOT NULL DEFAULT '',
    lease_until   INTEGER NULL
);
INSERT INTO leader_lease (id, lease_node, lease_token, lease_backend, lease_until)
    SELECT 1, lease_node, lease_token, lease_backend, lease_until FROM leader WHERE id = 1
    ON CONFLICT DO NOTHING;
INSERT INTO leader_lease (id) VALUES (1) ON CONFLICT DO NOTHING;

-- +goose Down
UPDATE leader SET
    lease_node = (SELECT lease_node FROM leader_lease WHERE id = 1),
    lease_token = (SELECT lease_token FROM leader_lease WHERE id = 1),
    lease_backend = (SELECT lease_backend FROM leader_lease WHERE id = 1),
    lease_until = (SELECT lease_until FROM leader_lease WHERE id = 1)
    WHERE id = 1 AND EXISTS (SELECT 1 FROM leader_lease WHERE id = 1);
DROP TABLE IF EXISTS leader_lease;
