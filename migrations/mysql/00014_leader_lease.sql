-- The lease row gets a table of its own (issue 11). In the leader row, a
-- renewal waited for the row lock that every fenced dispatch holds until
-- it commits: at 10,000 runs/s offered, lease renewals waited up to 2.9 s
-- behind dispatches, against a 3 s lease TTL. The leader row keeps the
-- epoch the dispatches fence on; the lease is claimed here, under a lock
-- of its own. The leader row's lease_* columns stay, unused, so that
-- replicas of the version before keep running during a rolling upgrade
-- (their row lease then differs from this one; the epoch fence, I2,
-- still keeps two leaders from both writing).

-- +goose Up
CREATE TABLE IF NOT EXISTS leader_lease (
    id            TINYINT      NOT NULL,
    lease_node    VARCHAR(191) NOT NULL DEFAULT '',
    lease_token   VARCHAR(64)  NOT NULL DEFAULT '',
    lease_backend VARCHAR(16)  NOT NULL DEFAULT '',
    lease_until   DATETIME(6)  NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT IGNORE INTO leader_lease (id, lease_node, lease_token, lease_backend, lease_until)
    SELECT 1, lease_node, lease_token, lease_backend, lease_until FROM leader WHERE id = 1;
INSERT IGNORE INTO leader_lease (id) VALUES (1);

-- +goose Down
UPDATE leader l JOIN leader_lease x ON x.id = l.id
    SET l.lease_node = x.lease_node, l.lease_token = x.lease_token,
        l.lease_backend = x.lease_backend, l.lease_until = x.lease_until;
DROP TABLE IF EXISTS leader_lease;
