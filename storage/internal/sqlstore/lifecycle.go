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
	reasonParams    = "params refused by the leader's config: %v"
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
// the leader to promote: TriggerRun with no params, created at at.
func (s *Store) Trigger(ctx context.Context, job string, at time.Time) (jobs.Run, error) {
	return s.TriggerRun(ctx, storage.TriggerParams{Job: job, At: at, Now: at})
}

// TriggerRun inserts a manual run in status scheduled, due (scheduled_at
// and not_before) at p.At, with p.Params, for the leader to promote once
// due. The store does not know the config, so it checks neither the job
// nor the params: the leader does when it promotes the run.
func (s *Store) TriggerRun(ctx context.Context, p storage.TriggerParams) (jobs.Run, error) {
	at, now := utc(p.At), utc(p.Now)
	if p.Now.IsZero() {
		now = at
	}
	r := &newRow{NewRun: storage.NewRun{Job: text(p.Job), ScheduledAt: at, Trigger: jobs.TriggerManual,
		Status: jobs.StatusScheduled, MaxAttempts: 1, NotBefore: at}, waitsFor: -1, params: p.Params}
	err := s.write(ctx, fmt.Sprintf("triggering job %q", p.Job), func(tx *sqlx.Tx) (err error) {
		if r.id, err = s.insertOne(ctx, tx, r, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, storage.ActionTrigger, "job/"+p.Job, triggerDetail{Run: r.id, At: at, Params: p.Params})
	})
	if err != nil {
		return jobs.Run{}, err
	}
	return r.run(now), nil
}

// PromoteScheduled queues the scheduled runs that are due: manual runs
// whose time has come (scheduled_at and not_before passed), in due order,
// and the runs of each backfill in tick order, at most its max_concurrent
// minus its runs already queued or running. Each is stamped with its
// job's digest and attempt budget and its params resolved against the
// leader's definition; runs of jobs the leader does not define, or whose
// params the definition refuses, are failed with the reason. At most
// batchLimit runs per call. Fenced (I2).
func (s *Store) PromoteScheduled(ctx context.Context, p storage.PromoteParams) ([]jobs.Run, error) {
	var out []jobs.Run
	err := s.write(ctx, "promoting scheduled runs", func(tx *sqlx.Tx) error {
		out = nil
		if err := s.fence(ctx, tx, p.Epoch); err != nil {
			return err
		}
		now := utc(p.Now)
		var rows []runRow
		// The index skips the waiting rows of backfills, which may be many.
		if err := tx.SelectContext(ctx, &rows, "SELECT "+runCols+" FROM runs"+s.d.useIndex("runs_backfill_status")+
			" WHERE backfill_id IS NULL AND status = 'scheduled' "+
			"AND scheduled_at <= ? AND not_before <= ? ORDER BY scheduled_at, id LIMIT ?"+s.d.ForUpdate,
			s.t(now), s.t(now), batchLimit); err != nil {
			return fmt.Errorf("reading due scheduled runs: %w", err)
		}
		more, err := s.backfillDue(ctx, tx, batchLimit-len(rows), p.Paused)
		if err != nil {
			return err
		}
		rows = append(rows, more...)
		for _, row := range rows {
			run, err := s.promote(ctx, tx, row.run(), p, now)
			if err != nil {
				return err
			}
			if run.Status == jobs.StatusQueued {
				out = append(out, run)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// promote queues one scheduled run or fails it with the reason.
func (s *Store) promote(ctx context.Context, tx *sqlx.Tx, run jobs.Run, p storage.PromoteParams, now time.Time) (jobs.Run, error) {
	var j *jobs.Job
	if p.Job != nil {
		j = p.Job(run.Job)
	}
	reason := ""
	var params map[string]string
	switch {
	case j == nil:
		reason = fmt.Sprintf(reasonUndefined, run.Job)
	case run.Trigger == jobs.TriggerManual:
		// A manual run executes with exactly the params it shows: those
		// given, defaults filled in, as the leader's definition says.
		var err error
		if params, err = j.ParamSpec().Resolve(run.Params); err != nil {
			reason = fmt.Sprintf(reasonParams, err)
		}
	default:
		params = run.Params
	}
	if reason != "" {
		run.Status, run.Error, run.FinishedAt = jobs.StatusFailed, reason, &now
		if _, err := tx.ExecContext(ctx, "UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
			s.t(now), run.Error, run.ID); err != nil {
			return run, fmt.Errorf("failing run %d: %w", run.ID, err)
		}
		return run, nil
	}
	run.Status, run.Digest, run.MaxAttempts, run.NotBefore, run.Params = jobs.StatusQueued, text(j.Digest), j.MaxAttempts(), now, params
	// A manual or backfill run of a job with run_on needs its labels; of a
	// broadcast job it is one shard (0 of 1), run once.
	run.RunOnLabels = text(j.RequiredLabels())
	if j.Broadcast() {
		run.ShardTotal = 1
	}
	pending := p.Dependents != nil && len(p.Dependents(run.Job)) > 0
	if p.Traceparent != nil {
		if tp := p.Traceparent(run); tp != "" {
			run.Traceparent = tp
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE runs SET status = 'queued', digest = ?, max_attempts = ?, "+
		"not_before = ?, enqueued_at = ?, params = ?, run_on_labels = ?, shard_total = ?, deps_pending = ?, traceparent = ? WHERE id = ?",
		run.Digest, run.MaxAttempts, s.t(now), s.t(now), encodeParams(params), run.RunOnLabels, run.ShardTotal, pending,
		traceparentArg(run.Traceparent), run.ID); err != nil {
		return run, fmt.Errorf("queueing run %d: %w", run.ID, err)
	}
	return run, nil
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
		if o := p.Output; o != nil {
			if err := s.storeOutput(ctx, tx, storage.OutputParams{RunID: p.RunID, Attempt: p.Attempt, Node: p.Node, LiveOutput: *o}); err != nil {
				return err
			}
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
			return fmt.Errorf("%w: run is already %s", storage.ErrConflict, run.Status)
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, storage.ActionCancel, fmt.Sprintf("run/%d", id), cancelDetail{Job: run.Job, Status: run.Status, CancelRequested: run.CancelRequested})
	})
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		return jobs.Run{}, err
	}
	return run, err
}
