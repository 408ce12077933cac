-- Live output (issue 14): the output a running attempt captured so far,
-- written by its worker every flush interval while new bytes arrived
-- (fenced like a heartbeat: only while the run row still holds that
-- attempt on that node), one row per running attempt, replaced in place.
-- Finish deletes it in the transaction that writes the attempt's final
-- output; the reaper moves it into the lost attempt's row. Output is
-- capped like an ended attempt's (I8).

-- +goose Up
CREATE TABLE IF NOT EXISTS live_output (
    run_id         INTEGER NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    attempt        INTEGER NOT NULL,
    output         TEXT    NOT NULL DEFAULT '',
    output_dropped INTEGER NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE IF EXISTS live_output;
