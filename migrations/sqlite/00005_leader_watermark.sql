-- The leader records how far its dispatch has got: every tick at or before
-- watermark of every job in the config whose digest is schedule_digest is
-- in history (or deliberately left out by a reload). A standby that holds
-- the same config and has followed the schedule since then takes over from
-- there, without reading every job's cursor (warm standby, docs/design.md).

-- +goose Up
ALTER TABLE leader ADD COLUMN watermark INTEGER NULL;
ALTER TABLE leader ADD COLUMN schedule_digest TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE leader DROP COLUMN schedule_digest;
ALTER TABLE leader DROP COLUMN watermark;
