package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/jobs"
)

// Backend is what the command line asks: the jobs, run history and cluster
// of a tock installation, and the changes an operator makes. Errors the
// API defines are *api.Error values (find the status with errors.As and the
// cause with errors.Is); others are transport or setup failures.
type Backend interface {
	// Jobs lists the jobs of the config with pause state, next fire and
	// last run, by name.
	Jobs(ctx context.Context) ([]api.Job, error)
	// Runs returns one page of run history, newest first.
	Runs(ctx context.Context, q RunQuery) (api.RunPage, error)
	// Run returns one run with its attempts and their output.
	Run(ctx context.Context, id int64) (api.RunDetail, error)
	// Logs returns the output of attempt (0: the latest) of run id as
	// the store has it: while the attempt runs, what its worker flushed.
	Logs(ctx context.Context, id int64, attempt int) (api.RunLogs, error)
	// FollowLogs calls emit with the output of attempt (0: the latest) of
	// run id as it reaches the store, then with its end, and returns nil
	// once the attempt ended (api.Service.FollowLogs).
	FollowLogs(ctx context.Context, id int64, attempt int, emit func(api.LogEvent) error) error
	// Trigger records a manual run of job; the leader queues it.
	Trigger(ctx context.Context, job string) (jobs.Run, error)
	// TriggerWith records a manual run of job with the request's params,
	// due at its time; the leader queues it once due.
	TriggerWith(ctx context.Context, job string, req api.TriggerRequest) (jobs.Run, error)
	// Backfill creates the missing runs of job's ticks in a past range
	// (or, with DryRun, says what it would create).
	Backfill(ctx context.Context, job string, req api.BackfillRequest) (api.Backfill, error)
	// CancelBackfill cancels the runs of a backfill still waiting.
	CancelBackfill(ctx context.Context, id int64) (api.BackfillCancel, error)
	// SetPaused pauses or resumes job on every replica and returns its new
	// state.
	SetPaused(ctx context.Context, job string, paused bool) (api.Job, error)
	// Cancel cancels a queued run or asks the worker of a running one to
	// stop it, and returns the run as it is after the request.
	Cancel(ctx context.Context, id int64) (jobs.Run, error)
	// Cluster returns the leader, its epoch and the nodes seen in the last
	// day.
	Cluster(ctx context.Context) (api.Cluster, error)
	// Audit returns one page of the audit trail (who changed what),
	// newest first.
	Audit(ctx context.Context, q AuditQuery) (api.AuditPage, error)
}

// RunQuery selects run history in the terms of GET /api/v1/runs; empty
// fields are absent. Both backends validate it with api.ParseRunQuery, so a
// malformed field is the same *api.Error naming the parameter in both.
type RunQuery struct {
	Job     string
	Status  string
	Trigger string
	// Since and Until are a duration before now (24h, 7d, 1d12h) or an RFC
	// 3339 time. Now is the answering side's clock.
	Since string
	Until string
	// Cursor is a page's NextCursor: the next page holds older runs.
	Cursor string
	// Limit is the page size, 1 to api.MaxRunLimit; 0 means
	// api.DefaultRunLimit.
	Limit int
}

// Values returns q as the query of GET /api/v1/runs.
func (q RunQuery) Values() url.Values {
	v := url.Values{}
	for _, p := range []struct{ k, v string }{
		{"job", q.Job}, {"status", q.Status}, {"trigger", q.Trigger},
		{"since", q.Since}, {"until", q.Until}, {"cursor", q.Cursor},
	} {
		if p.v != "" {
			v.Set(p.k, p.v)
		}
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// checkRunID refuses the run ids the API's path parameter refuses, so both
// backends answer a bad id alike.
func checkRunID(id int64) error {
	_, err := api.ParseRunID("id", strconv.FormatInt(id, 10))
	return err
}
