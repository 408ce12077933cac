package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// FlushOutput stores a running attempt's output so far in its live_output
// row, in one statement that inserts or replaces the row only while the
// run row holds the attempt running on the caller's node (the heartbeat's
// fence); ErrLeaseLost otherwise.
func (s *Store) FlushOutput(ctx context.Context, p storage.OutputParams) error {
	return s.write(ctx, fmt.Sprintf("storing output of run %d attempt %d", p.RunID, p.Attempt), func(tx *sqlx.Tx) error {
		return s.storeOutput(ctx, tx, p)
	})
}

func (s *Store) storeOutput(ctx context.Context, tx *sqlx.Tx, p storage.OutputParams) error {
	// The SELECT has a WHERE clause, which SQLite needs to parse the
	// upsert that follows it.
	q := "INSERT INTO live_output (run_id, attempt, output, output_dropped) SELECT id, attempt, ?, ? FROM runs " +
		"WHERE id = ? AND attempt = ? AND node = ? AND status = 'running' " + s.d.Upsert("run_id") +
		" attempt = " + s.d.Inserted("attempt") + ", output = " + s.d.Inserted("output") +
		", output_dropped = " + s.d.Inserted("output_dropped")
	return execOne(ctx, tx, storage.ErrLeaseLost, q, text(p.Output), p.Dropped, p.RunID, p.Attempt, text(p.Node))
}

// liveOutput fills in the output a running attempt stored so far, if any.
func (s *Store) liveOutput(ctx context.Context, tx *sqlx.Tx, a *jobs.Attempt) error {
	var row outputRow
	err := tx.GetContext(ctx, &row, "SELECT run_id, attempt, output, output_dropped FROM live_output WHERE run_id = ? AND attempt = ?",
		a.RunID, a.Number)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading live output: %w", err)
	}
	a.Output, a.OutputDropped = row.Output, row.OutputDropped
	return nil
}

type outputRow struct {
	RunID         int64  `db:"run_id"`
	Attempt       int    `db:"attempt"`
	Output        string `db:"output"`
	OutputDropped int64  `db:"output_dropped"`
}

// keepLiveOutput gives the ended attempts atts (of distinct runs) the
// live output their attempt stored, and deletes those rows: what a
// replica flushed before it died stays in history.
func (s *Store) keepLiveOutput(ctx context.Context, tx *sqlx.Tx, atts []jobs.Attempt) error {
	if len(atts) == 0 {
		return nil
	}
	ids := make([]int64, len(atts))
	for i, a := range atts {
		ids[i] = a.RunID
	}
	q, args, err := in("SELECT run_id, attempt, output, output_dropped FROM live_output WHERE run_id IN (?)", ids)
	if err != nil {
		return err
	}
	var rows []outputRow
	if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
		return fmt.Errorf("reading live output: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	byRun := make(map[int64]outputRow, len(rows))
	found := make([]int64, 0, len(rows))
	for _, r := range rows {
		byRun[r.RunID] = r
		found = append(found, r.RunID)
	}
	for i := range atts {
		if r, ok := byRun[atts[i].RunID]; ok && r.Attempt == atts[i].Number {
			atts[i].Output, atts[i].OutputDropped = r.Output, r.OutputDropped
		}
	}
	return s.deleteLiveOutput(ctx, tx, found)
}

// deleteLiveOutput deletes the live_output rows of runs ids.
func (s *Store) deleteLiveOutput(ctx context.Context, tx *sqlx.Tx, ids []int64) error {
	return chunks(len(ids), chunkRows, func(lo, hi int) error {
		q, args, err := in("DELETE FROM live_output WHERE run_id IN (?)", ids[lo:hi])
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("deleting live output: %w", err)
		}
		return nil
	})
}
