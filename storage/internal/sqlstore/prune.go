package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Prune batch sizes.
const (
	// DefaultPruneBatch is storage.PruneParams.Batch when unset.
	DefaultPruneBatch = 1000
	// MaxPruneBatch caps storage.PruneParams.Batch.
	MaxPruneBatch = 5000
)

// Prune deletes terminal runs that finished before params.Before and are
// not among the newest params.KeepPerJob runs of their job, with their
// attempts, in transactions of at most params.Batch runs, stopping once it
// deleted params.Limit runs when that is positive. Scheduled, queued and
// running runs are never deleted. It returns how many runs it deleted,
// also when ctx ends it part-way.
//
// No lock outlives a batch: the runs of a batch are chosen by a plain
// (non-locking) read inside the batch's transaction, and only their own
// rows are deleted by primary key. Terminal runs never change, so choosing
// them without a lock is safe, and so is the lack of a fencing check (I2):
// an ex-leader still pruning deletes only what the new leader would.
func (s *Store) Prune(ctx context.Context, p storage.PruneParams) (int64, error) {
	batch := p.Batch
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	batch = min(batch, MaxPruneBatch)
	var terminal []string
	for _, st := range jobs.AllStatuses {
		if st.Terminal() {
			terminal = append(terminal, string(st))
		}
	}
	names := []string{""}
	if p.KeepPerJob > 0 {
		names = nil
		err := s.query(ctx, "pruning runs: listing jobs", func(db *sqlx.DB) error {
			return db.SelectContext(ctx, &names, "SELECT DISTINCT job FROM runs")
		})
		if err != nil {
			return 0, err
		}
	}
	var total int64
	for _, job := range names {
		limit := int64(-1) // no limit
		if p.Limit > 0 {
			limit = int64(p.Limit) - total
			if limit <= 0 {
				break
			}
		}
		n, err := s.pruneJob(ctx, job, p, terminal, batch, limit)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// pruneJob prunes the runs of job, or of every job when KeepPerJob is 0,
// deleting at most limit runs when limit is not negative.
func (s *Store) pruneJob(ctx context.Context, job string, p storage.PruneParams, terminal []string, batch int, limit int64) (int64, error) {
	what := "pruning runs"
	cond, args := "", []any{}
	if p.KeepPerJob > 0 {
		what = fmt.Sprintf("pruning runs of job %q", job)
		var keepFrom int64
		err := s.query(ctx, what, func(db *sqlx.DB) error {
			return db.GetContext(ctx, &keepFrom, "SELECT id FROM runs WHERE job = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
				job, p.KeepPerJob-1)
		})
		if errors.Is(err, storage.ErrNotFound) {
			return 0, nil // no more runs than it keeps
		}
		if err != nil {
			return 0, err
		}
		cond, args = "job = ? AND id < ? AND ", []any{job, keepFrom}
	}
	// A run finishes after it is scheduled, so the scheduled_at bound only
	// narrows the scan to an index range.
	before := s.t(p.Before)
	// A run whose dependents are still to be decided (deps_pending) is
	// kept until the leader decided them.
	q, qargs, err := in("SELECT id FROM runs WHERE "+cond+"status IN (?) AND scheduled_at < ? "+
		"AND COALESCE(finished_at, scheduled_at) < ? AND deps_pending = 0 ORDER BY id LIMIT ?", append(args, terminal, before, before, batch)...)
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		size := batch
		if limit >= 0 {
			size = int(min(int64(batch), limit-total))
		}
		if size <= 0 {
			return total, nil
		}
		qargs[len(qargs)-1] = size // the LIMIT
		var ids []int64
		var deleted int64
		err := s.write(ctx, what, func(tx *sqlx.Tx) error {
			ids, deleted = nil, 0
			if err := tx.SelectContext(ctx, &ids, q, qargs...); err != nil || len(ids) == 0 {
				return err
			}
			if err := s.keepCursors(ctx, tx, ids); err != nil {
				return err
			}
			dq, dargs, err := in("DELETE FROM attempts WHERE run_id IN (?)", ids)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, dq, dargs...); err != nil {
				return fmt.Errorf("deleting attempts: %w", err)
			}
			dq, dargs, err = in("DELETE FROM runs WHERE id IN (?)", ids)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, dq, dargs...)
			if err != nil {
				return fmt.Errorf("deleting runs: %w", err)
			}
			deleted, err = res.RowsAffected()
			return err
		})
		total += deleted
		if err != nil || len(ids) < size {
			return total, err
		}
	}
}

// keepCursors moves the cursor of each job whose tick rows are among ids
// to the newest of them before they are deleted: a job's cursor is also
// derived from its newest tick row (JobStates), which pruning must not
// move back, or a new leader would plan those ticks again (I1).
func (s *Store) keepCursors(ctx context.Context, tx *sqlx.Tx, ids []int64) error {
	q, args, err := in("SELECT job, MAX(tick_key) AS last_tick FROM runs WHERE id IN (?) AND tick_key IS NOT NULL GROUP BY job", ids)
	if err != nil {
		return err
	}
	var rows []struct {
		Job  string `db:"job"`
		Last dbTime `db:"last_tick"`
	}
	if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
		return fmt.Errorf("reading the ticks of pruned runs: %w", err)
	}
	cursors := make(map[string]time.Time, len(rows))
	for _, r := range rows {
		if r.Last.Valid {
			cursors[r.Job] = r.Last.T
		}
	}
	return s.advanceCursors(ctx, tx, cursors)
}
