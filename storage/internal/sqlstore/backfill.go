package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

const (
	// backfillChunk bounds the ticks one backfill transaction inserts.
	backfillChunk = chunkRows
	// backfillExamples bounds the present ticks a backfill reports.
	backfillExamples = 5
)

// Backfill records the backfill (job, from, to) once and inserts, in
// transactions of backfillChunk ticks, a scheduled backfill run for each
// tick up to the job's schedule cursor that has no row yet. The tick key
// (UNIQUE (job, tick_key), I1) makes it idempotent: a tick inserted by an
// earlier call, by a call that failed part-way or by a concurrent one is
// never inserted twice; the INSERT skips duplicates as the last guard.
func (s *Store) Backfill(ctx context.Context, p storage.BackfillParams) (storage.BackfillResult, error) {
	job, now := text(p.Job), utc(p.Now)
	from, to := utc(p.From), utc(p.To)
	res := storage.BackfillResult{PresentByStatus: map[jobs.RunStatus]int{}}
	err := s.write(ctx, fmt.Sprintf("recording backfill of job %q", p.Job), func(tx *sqlx.Tx) error {
		cursor, ok, err := s.jobCursor(ctx, tx, job)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: job %q has no schedule cursor yet: no leader has scheduled it, so none of its ticks is accounted for", storage.ErrNotFound, p.Job)
		}
		res.Cursor = cursor
		if _, err := tx.ExecContext(ctx, "INSERT INTO backfills (job, range_from, range_to, max_concurrent, actor, created_at) "+
			"VALUES (?, ?, ?, ?, ?, ?)"+s.d.SkipDuplicates,
			job, s.t(from), s.t(to), p.MaxConcurrent, text(p.Actor), s.t(now)); err != nil {
			return fmt.Errorf("inserting backfill: %w", err)
		}
		if err := tx.GetContext(ctx, &res.ID, "SELECT id FROM backfills WHERE job = ? AND range_from = ? AND range_to = ?",
			job, s.t(from), s.t(to)); err != nil {
			return fmt.Errorf("reading backfill id: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE backfills SET max_concurrent = ? WHERE id = ?", p.MaxConcurrent, res.ID); err != nil {
			return fmt.Errorf("setting backfill max_concurrent: %w", err)
		}
		return s.audit(ctx, tx, storage.ActionBackfill, "job/"+p.Job, backfillDetail{Backfill: res.ID, From: from, To: to, MaxConcurrent: p.MaxConcurrent})
	})
	if err != nil {
		return storage.BackfillResult{}, err
	}
	ticks := make([]time.Time, 0, len(p.Ticks))
	for _, t := range p.Ticks {
		t = utc(t)
		if t.After(res.Cursor) {
			res.LeftToScheduler++
			continue
		}
		ticks = append(ticks, t)
	}
	err = chunks(len(ticks), backfillChunk, func(lo, hi int) error {
		var c chunkResult
		err := s.write(ctx, fmt.Sprintf("backfilling job %q", p.Job), func(tx *sqlx.Tx) (err error) {
			c, err = s.backfillChunk(ctx, tx, job, res.ID, ticks[lo:hi], now)
			return err
		})
		if err != nil {
			return err
		}
		res.Created += c.created
		for _, e := range c.present {
			res.Present++
			res.PresentByStatus[e.Status]++
			if len(res.Examples) < backfillExamples {
				res.Examples = append(res.Examples, e)
			}
		}
		return nil
	})
	return res, err
}

type chunkResult struct {
	created int
	present []storage.BackfillTick
}

// backfillChunk inserts the runs of ticks that have no row, inside tx.
func (s *Store) backfillChunk(ctx context.Context, tx *sqlx.Tx, job string, id int64, ticks []time.Time, now time.Time) (chunkResult, error) {
	var c chunkResult
	keys := make([]any, len(ticks))
	for i, t := range ticks {
		keys[i] = s.t(t)
	}
	var found []struct {
		ID      int64  `db:"id"`
		Tick    dbTime `db:"tick_key"`
		Status  string `db:"status"`
		Trigger string `db:"trig"`
	}
	q, args, err := in("SELECT id, tick_key, status, trig FROM runs WHERE job = ? AND tick_key IN (?) ORDER BY tick_key", job, keys)
	if err != nil {
		return c, err
	}
	if err := tx.SelectContext(ctx, &found, q, args...); err != nil {
		return c, fmt.Errorf("reading present ticks: %w", err)
	}
	have := make(map[int64]bool, len(found))
	for _, f := range found {
		have[f.Tick.T.UnixMicro()] = true
		c.present = append(c.present, storage.BackfillTick{At: f.Tick.T, RunID: f.ID,
			Status: jobs.RunStatus(f.Status), Trigger: jobs.Trigger(f.Trigger)})
	}
	var missing []storage.NewRun
	for _, t := range ticks {
		if !have[t.UnixMicro()] {
			missing = append(missing, storage.NewRun{Job: job, ScheduledAt: t, Trigger: jobs.TriggerBackfill,
				Status: jobs.StatusScheduled, MaxAttempts: 1, NotBefore: now})
		}
	}
	if len(missing) == 0 {
		return c, nil
	}
	rows := newRows(missing, now)
	for _, r := range rows {
		r.backfill = id
	}
	if err := s.insertPass(ctx, tx, rows, now); err != nil {
		return c, err
	}
	// The rows this transaction inserted carry its backfill id and
	// creation time; a tick another backfill took meanwhile (between the
	// read and the insert) has a row that is not ours.
	var ours int
	mkeys := make([]any, len(rows))
	for i, r := range rows {
		mkeys[i] = s.t(r.ScheduledAt)
	}
	q, args, err = in("SELECT COUNT(*) FROM runs WHERE job = ? AND tick_key IN (?) AND backfill_id = ? AND created_at = ?",
		job, mkeys, id, s.t(now))
	if err != nil {
		return c, err
	}
	if err := tx.GetContext(ctx, &ours, q, args...); err != nil {
		return c, fmt.Errorf("counting inserted backfill runs: %w", err)
	}
	c.created = ours
	if raced := len(rows) - ours; raced > 0 {
		// Only another backfill writes ticks at or before the cursor, and
		// its rows start scheduled.
		for i := 0; i < raced; i++ {
			c.present = append(c.present, storage.BackfillTick{Status: jobs.StatusScheduled, Trigger: jobs.TriggerBackfill})
		}
	}
	return c, nil
}

// jobCursor reads a job's schedule cursor as JobStates computes it: the
// later of job_state.tick_cursor and its newest tick row. ok is false when
// it has neither.
func (s *Store) jobCursor(ctx context.Context, tx *sqlx.Tx, job string) (time.Time, bool, error) {
	var cur, last dbTime
	err := tx.GetContext(ctx, &cur, "SELECT tick_cursor FROM job_state WHERE job = ?", job)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, fmt.Errorf("reading schedule cursor: %w", err)
	}
	if err := tx.GetContext(ctx, &last, "SELECT MAX(tick_key) FROM runs WHERE job = ?", job); err != nil {
		return time.Time{}, false, fmt.Errorf("reading newest tick: %w", err)
	}
	switch {
	case cur.Valid && last.Valid && last.T.After(cur.T):
		return last.T, true, nil
	case cur.Valid:
		return cur.T, true, nil
	case last.Valid:
		return last.T, true, nil
	}
	return time.Time{}, false, nil
}

// backfillDue returns up to limit scheduled backfill runs that may be
// queued now: for each backfill with waiting runs whose job is not paused,
// in id order, its earliest waiting ticks, at most max_concurrent minus
// its runs already queued or running.
func (s *Store) backfillDue(ctx context.Context, tx *sqlx.Tx, limit int, paused func(string) bool) ([]runRow, error) {
	if limit <= 0 {
		return nil, nil
	}
	var open []struct {
		ID  int64  `db:"id"`
		Job string `db:"job"`
		Max int    `db:"max_concurrent"`
	}
	if err := tx.SelectContext(ctx, &open, "SELECT b.id, b.job, b.max_concurrent FROM backfills b WHERE EXISTS "+
		"(SELECT 1 FROM runs r WHERE r.backfill_id = b.id AND r.status = 'scheduled') ORDER BY b.id"); err != nil {
		return nil, fmt.Errorf("reading open backfills: %w", err)
	}
	var out []runRow
	for _, b := range open {
		room := limit - len(out)
		if room <= 0 {
			break
		}
		if paused != nil && paused(b.Job) {
			continue
		}
		if b.Max > 0 {
			var active int
			if err := tx.GetContext(ctx, &active, "SELECT COUNT(*) FROM runs WHERE backfill_id = ? AND status IN ('queued', 'running')", b.ID); err != nil {
				return nil, fmt.Errorf("counting active runs of backfill %d: %w", b.ID, err)
			}
			room = min(room, b.Max-active)
			if room <= 0 {
				continue
			}
		}
		var rows []runRow
		if err := tx.SelectContext(ctx, &rows, "SELECT "+runCols+" FROM runs WHERE backfill_id = ? AND status = 'scheduled' "+
			"ORDER BY scheduled_at, id LIMIT ?"+s.d.ForUpdate, b.ID, room); err != nil {
			return nil, fmt.Errorf("reading waiting runs of backfill %d: %w", b.ID, err)
		}
		out = append(out, rows...)
	}
	return out, nil
}

// reasonBackfillCanceled is the error of a backfill run canceled with its
// backfill.
const reasonBackfillCanceled = "backfill %d canceled before the run started"

// CancelBackfill cancels the still scheduled runs of backfill id, in
// transactions of at most batchLimit runs.
func (s *Store) CancelBackfill(ctx context.Context, id int64, now time.Time) (int, error) {
	var exists int
	err := s.query(ctx, fmt.Sprintf("reading backfill %d", id), func(db *sqlx.DB) error {
		return db.GetContext(ctx, &exists, "SELECT COUNT(*) FROM backfills WHERE id = ?", id)
	})
	if err != nil {
		return 0, err
	}
	if exists == 0 {
		return 0, fmt.Errorf("backfill %d: %w", id, storage.ErrNotFound)
	}
	total := 0
	for first := true; ; first = false {
		var n int64
		err := s.write(ctx, fmt.Sprintf("canceling backfill %d", id), func(tx *sqlx.Tx) error {
			if first {
				// The first batch records the request (audit rule).
				if err := s.audit(ctx, tx, storage.ActionCancelBackfill, fmt.Sprintf("backfill/%d", id), struct{}{}); err != nil {
					return err
				}
			}
			var ids []int64
			if err := tx.SelectContext(ctx, &ids, "SELECT id FROM runs WHERE backfill_id = ? AND status = 'scheduled' "+
				"ORDER BY scheduled_at, id LIMIT ?"+s.d.ForUpdate, id, batchLimit); err != nil {
				return err
			}
			n = int64(len(ids))
			if n == 0 {
				return nil
			}
			q, args, err := in("UPDATE runs SET status = 'canceled', finished_at = ?, error = ? WHERE id IN (?) AND status = 'scheduled'",
				s.t(now), fmt.Sprintf(reasonBackfillCanceled, id), ids)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, q, args...)
			return err
		})
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < batchLimit {
			return total, nil
		}
	}
}
