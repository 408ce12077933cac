-- Each replica's measured offset of its local clock to the store's clock
-- (microseconds, store minus local) and the round trip of the best
-- sample, so that `tock cluster` and the dashboard show every node's skew.

-- +goose Up
ALTER TABLE nodes ADD COLUMN clock_offset_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN clock_rtt_us INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE nodes DROP COLUMN clock_rtt_us;
ALTER TABLE nodes DROP COLUMN clock_offset_us;
