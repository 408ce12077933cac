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

const (
	reasonUndefined = "job %q is not defined in the leader's config"
	reasonCanceled  = "canceled before it started"
)

// getRun reads one run; lock takes its row lock for the rest of tx.
func (s *Store) getRun(ctx context.Context, q sqlx.QueryerContext, id int64, lock bool) (jobs.Run, error) {
	var row runRow
	query := "SELECT " + runCols + " FROM runs WHERE id = ?"
	if lock {
		query += s.d.ForUpdate
	}
	if err := sqlx.GetContext(ctx, q, &row, query, id); err != nil {
		return jobs.Run{}, err
	}
	return row.run(), nil
}

// Trigger inserts a manual run in status scheduled, scheduled at at, for
// the leader to promote. The store does not know the config, so it does
// not check that the job exists.
func (s *Store) Trigger(ctx context.Context, job string, at time.Time) (jobs.Run, error) {
	at = utc(at)
	r := &newRow{NewRun: storage.NewRun{Job: text(job), ScheduledAt: at, Trigger: jobs.TriggerManual,
		Status: jobs.StatusScheduled, MaxAttempts: 1, NotBefore: at}, waitsFor: -1}
	err := s.write(ctx, fmt.Sprintf("triggering job %q", job), func(tx *sqlx.Tx) (err error) {
		r.id, err = s.insertOne(ctx, tx, r, at)
		return err
	})
	if err != nil {
		return jobs.Run{}, err
	}
	return r.run(at), nil
}

// PromoteScheduled queues the scheduled (manual) runs of jobs in
// params.Jobs with their digest and attempt budget, and fails those of
// jobs the leader does not define. Fenced (I2).
func (s *Store) PromoteScheduled(ctx context.Context, p storage.PromoteParams) ([]jobs.Run, error) {
	var out []jobs.Run
	err := s.write(ctx, "promoting manual runs", func(tx *sqlx.Tx) error {
		out = nil
		if err := s.fence(ctx, tx, p.Epoch); err != nil {
			return err
		}
		var rows []runRow
		if err := tx.SelectContext(ctx, &rows, "SELECT "+runCols+" FROM runs WHERE status = 'scheduled' "+
			"ORDER BY id LIMIT ?"+s.d.ForUpdate, batchLimit); err != nil {
			return fmt.Errorf("reading scheduled runs: %w", err)
		}
		now := utc(p.Now)
		for _, row := range rows {
			run := row.run()
			var j *jobs.Job
			if p.Job != nil {
				j = p.Job(run.Job)
			}
			if j == nil {
				run.Status, run.Error, run.FinishedAt = jobs.StatusFailed, fmt.Sprintf(reasonUndefined, run.Job), &now
				if _, err := tx.ExecContext(ctx, "UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
					s.t(now), run.Error, run.ID); err != nil {
					return fmt.Errorf("failing run %d: %w", run.ID, err)
				}
				continue
			}
			run.Status, run.Digest, run.MaxAttempts, run.NotBefore = jobs.StatusQueued, text(j.Digest), j.MaxAttempts(), now
			// A manual run of a job with run_on needs its labels; of a
			// broadcast job it is one shard (0 of 1), run once.
			run.RunOnLabels = text(j.RequiredLabels())
			if j.Broadcast() {
				run.ShardTotal = 1
			}
			pending := p.Dependents != nil && len(p.Dependents(run.Job)) > 0
			if _, err := tx.ExecContext(ctx, "UPDATE runs SET status = 'queued', digest = ?, max_attempts = ?, "+
				"not_before = ?, enqueued_at = ?, run_on_labels = ?, shard_total = ?, deps_pending = ? WHERE id = ?",
				run.Digest, run.MaxAttempts, s.t(now), s.t(now), run.RunOnLabels, run.ShardTotal, pending, run.ID); err != nil {
				return fmt.Errorf("queueing run %d: %w", run.ID, err)
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

// Heartbeat extends a running attempt's lease held by the caller's node and
// reports whether a cancel was requested; ErrLeaseLost otherwise.
func (s *Store) Heartbeat(ctx context.Context, p storage.HeartbeatParams) (bool, error) {
	var cancel bool
	err := s.write(ctx, fmt.Sprintf("renewing lease of run %d attempt %d", p.RunID, p.Attempt), func(tx *sqlx.Tx) error {
		// The driver reports matched rows, not changed ones, so renewing
		// to the same deadline still counts.
		// The running attempt lives on its run row.
		if err := execOne(ctx, tx, storage.ErrLeaseLost, "UPDATE runs SET lease_until = ? "+
			"WHERE id = ? AND attempt = ? AND node = ? AND status = 'running'",
			s.t(p.LeaseUntil), p.RunID, p.Attempt, text(p.Node)); err != nil {
			return err
		}
		return tx.GetContext(ctx, &cancel, "SELECT cancel_requested FROM runs WHERE id = ?", p.RunID)
	})
	return cancel, err
}

// Finish closes the caller's running attempt with params.Status and, in
// the same transaction (I6), queues the run again not before RetryAt when
// a retry was asked for, attempts remain and no cancel was requested, or
// ends it with params.Status. ErrLeaseLost, changing nothing, if the
// attempt is no longer running on the caller's node. It is FinishMany of
// one attempt.
func (s *Store) Finish(ctx context.Context, p storage.FinishParams) (jobs.Run, error) {
	res, err := s.finishMany(ctx, itemWhat(p), []storage.FinishParams{p})
	if err != nil {
		return jobs.Run{}, err
	}
	return res[0].Run, res[0].Err
}

// RequestCancel cancels a scheduled or queued run at once, or flags a
// running one for its worker to stop. ErrNotFound for an unknown run;
// ErrConflict, with the run, if it already ended.
func (s *Store) RequestCancel(ctx context.Context, id int64, now time.Time) (jobs.Run, error) {
	var run jobs.Run
	err := s.write(ctx, fmt.Sprintf("canceling run %d", id), func(tx *sqlx.Tx) (err error) {
		if run, err = s.getRun(ctx, tx, id, true); err != nil {
			return err
		}
		switch run.Status {
		case jobs.StatusScheduled, jobs.StatusQueued:
			fin := utc(now)
			run.Status, run.FinishedAt, run.Error = jobs.StatusCanceled, &fin, reasonCanceled
			_, err = tx.ExecContext(ctx, "UPDATE runs SET status = 'canceled', finished_at = ?, error = ? WHERE id = ?",
				s.t(fin), run.Error, id)
		case jobs.StatusRunning:
			run.CancelRequested = true
			_, err = tx.ExecContext(ctx, "UPDATE runs SET cancel_requested = 1 WHERE id = ?", id)
		default:
			err = fmt.Errorf("%w: run is already %s", storage.ErrConflict, run.Status)
		}
		return err
	})
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		return jobs.Run{}, err
	}
	return run, err
}
