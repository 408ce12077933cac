package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

const (
	reasonLeaseExpired = "lease expired: node %s stopped heartbeating"
	reasonNodeRestart  = "node %s restarted before the attempt finished"
	reasonUnclaimed    = reasonUnclaimedPrefix + "no live replica has this job definition"
	// reasonUnclaimedPrefix starts the reason of every unclaimed run.
	reasonUnclaimedPrefix = "no worker claimed it within the dispatch timeout (job %s, digest %s): "
)

// ReapExpired marks running attempts whose lease ended before params.Now
// lost and requeues or ends their runs (I5), at most batchLimit per call.
// Fenced (I2).
func (s *Store) ReapExpired(ctx context.Context, p storage.ReapParams) ([]jobs.Run, error) {
	var out []jobs.Run
	err := s.write(ctx, "reaping expired attempts", func(tx *sqlx.Tx) error {
		out = nil
		if err := s.fence(ctx, tx, p.Epoch); err != nil {
			return err
		}
		now := utc(p.Now)
		// Two steps, so that only expired runs are locked: a plain read
		// of the running runs' index entries (runs_status_due holds
		// lease_until), then a locking read of those runs by id that
		// checks them again and skips the ones a finisher holds.
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, "SELECT id FROM runs WHERE status = 'running' AND lease_until < ? "+
			"ORDER BY lease_until, id LIMIT ?", s.t(now), batchLimit); err != nil {
			return fmt.Errorf("reading expired attempts: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		slices.Sort(ids)
		q, args, err := in("SELECT "+runCols+" FROM runs WHERE id IN (?) AND status = 'running' AND lease_until < ? "+
			"ORDER BY id"+s.d.ForUpdate+s.d.SkipLocked, ids, s.t(now))
		if err != nil {
			return err
		}
		var rows []runRow
		if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
			return fmt.Errorf("locking expired attempts: %w", err)
		}
		out, err = s.loseAttempts(ctx, tx, rows, now, p.Backoff, reasonLeaseExpired)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RecoverNode marks every running attempt of node lost, whatever its
// lease, and requeues or ends their runs like ReapExpired (without
// backoff). Not fenced: a node recovers its own attempts as it starts.
func (s *Store) RecoverNode(ctx context.Context, node string, now time.Time) ([]jobs.Run, error) {
	var all []jobs.Run
	for {
		var out []jobs.Run
		var n int
		err := s.write(ctx, fmt.Sprintf("recovering attempts of node %s", node), func(tx *sqlx.Tx) error {
			// The ids first (runs_status_due; ORDER BY id would make
			// MySQL walk the primary key), then the rows locked in id
			// order.
			var ids []int64
			if err := tx.SelectContext(ctx, &ids, "SELECT id FROM runs WHERE status = 'running' AND node = ? LIMIT ?",
				text(node), batchLimit); err != nil {
				return fmt.Errorf("reading running attempts: %w", err)
			}
			n = len(ids)
			if n == 0 {
				return nil
			}
			slices.Sort(ids)
			q, args, err := in("SELECT "+runCols+" FROM runs WHERE id IN (?) AND status = 'running' AND node = ? ORDER BY id"+s.d.ForUpdate,
				ids, text(node))
			if err != nil {
				return err
			}
			var rows []runRow
			if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
				return fmt.Errorf("locking running attempts: %w", err)
			}
			out, err = s.loseAttempts(ctx, tx, rows, utc(now), nil, reasonNodeRestart)
			return err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, out...)
		if n < batchLimit {
			return all, nil
		}
	}
}

// loseAttempts ends the running attempts of the locked running runs rows
// lost with reason (a format taking the node), writing each attempt's row,
// and sends each run back to queued, not before now plus backoff, when
// attempts remain and no cancel was requested; otherwise it ends the run
// lost, or canceled if a cancel was requested. It returns the runs.
func (s *Store) loseAttempts(ctx context.Context, tx *sqlx.Tx, rows []runRow, now time.Time,
	backoff func(jobs.Run) time.Duration, reason string) ([]jobs.Run, error) {
	var out []jobs.Run
	var ended []jobs.Attempt
	for _, row := range rows {
		att, running := row.heldAttempt()
		if !running {
			continue
		}
		msg := fmt.Sprintf(reason, att.Node)
		fin := now
		att.Status, att.FinishedAt, att.Error = jobs.StatusLost, &fin, msg
		ended = append(ended, att)
		run := row.run()
		run.Error, run.ExitCode = msg, nil
		var err error
		if run.Attempt < run.MaxAttempts && !run.CancelRequested {
			var delay time.Duration
			if backoff != nil {
				delay = backoff(run)
			}
			// Never before the attempt's own not_before: a run claimed
			// ahead and reaped before its tick is retried at the tick,
			// not early.
			nb := now.Add(delay)
			if run.NotBefore.After(nb) {
				nb = run.NotBefore
			}
			// A shard's retry goes to any live matching replica: its
			// pinned node just lost the attempt.
			run.Status, run.NotBefore, run.Node, run.PinnedNode = jobs.StatusQueued, utc(nb), "", ""
			err = execN(ctx, tx, 1, "UPDATE runs SET status = 'queued', not_before = ?, enqueued_at = NULL, "+
				"node = '', pinned_node = '', exit_code = NULL, error = ? WHERE id = ? AND status = 'running'", s.t(run.NotBefore), msg, run.ID)
		} else {
			run.Status, run.FinishedAt = jobs.StatusLost, &fin
			if run.CancelRequested {
				run.Status = jobs.StatusCanceled
			}
			err = execN(ctx, tx, 1, "UPDATE runs SET status = ?, finished_at = ?, exit_code = NULL, error = ? "+
				"WHERE id = ? AND status = 'running'", string(run.Status), s.t(now), msg, run.ID)
		}
		if err != nil {
			return nil, fmt.Errorf("updating run %d: %w", run.ID, err)
		}
		out = append(out, run)
	}
	if err := s.keepLiveOutput(ctx, tx, ended); err != nil {
		return nil, err
	}
	if err := s.insertAttempts(ctx, tx, ended); err != nil {
		return nil, err
	}
	return out, nil
}

// DueQueued returns up to limit queued runs whose not_before has passed
// and that were not enqueued since enqueuedBefore, oldest not_before
// first, and stamps them enqueued now. limit <= 0 means batchLimit.
func (s *Store) DueQueued(ctx context.Context, now, enqueuedBefore time.Time, limit int) ([]jobs.Run, error) {
	if limit <= 0 || limit > batchLimit {
		limit = batchLimit
	}
	var out []jobs.Run
	err := s.write(ctx, "reading due queued runs", func(tx *sqlx.Tx) error {
		out = nil
		var rows []runRow
		if err := tx.SelectContext(ctx, &rows, "SELECT "+runCols+" FROM runs WHERE status = 'queued' AND not_before <= ? "+
			"AND (enqueued_at IS NULL OR enqueued_at < ?) ORDER BY not_before, id LIMIT ?"+s.d.ForUpdate+s.d.SkipLocked,
			s.t(now), s.t(enqueuedBefore), limit); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		out = runs(rows)
		ids := make([]int64, len(out))
		for i, r := range out {
			ids[i] = r.ID
		}
		q, args, err := in("UPDATE runs SET enqueued_at = ? WHERE id IN (?)", s.t(now), ids)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("stamping enqueued runs: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FailUnclaimed fails queued runs that became due (not_before) before
// createdBefore and still wait for a worker, naming job and digest: no live
// replica has that definition (I7). At most batchLimit per call.
func (s *Store) FailUnclaimed(ctx context.Context, createdBefore, now time.Time) ([]jobs.Run, error) {
	var out []jobs.Run
	err := s.write(ctx, "failing unclaimed runs", func(tx *sqlx.Tx) error {
		out = nil
		var rows []runRow
		if err := tx.SelectContext(ctx, &rows, "SELECT "+runCols+" FROM runs WHERE status = 'queued' AND not_before < ? "+
			"ORDER BY not_before, id LIMIT ?"+s.d.ForUpdate+s.d.SkipLocked, s.t(createdBefore), batchLimit); err != nil {
			return err
		}
		fin := utc(now)
		for _, row := range rows {
			run := row.run()
			run.Status, run.FinishedAt, run.Error = jobs.StatusFailed, &fin, unclaimedReason(run)
			if _, err := tx.ExecContext(ctx, "UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
				s.t(fin), run.Error, run.ID); err != nil {
				return fmt.Errorf("failing run %d: %w", run.ID, err)
			}
			out = append(out, run)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
