package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// DirectOptions configure a Direct.
type DirectOptions struct {
	// Store is the history store; the caller opens, migrates and closes it.
	Store storage.Store
	// Config loads the job config. Jobs, Trigger and SetPaused call it (at
	// most once per Direct); without it they fail with ErrNoConfig.
	Config func() (*jobs.Config, error)
	Clock  clock.Clock // default clock.Real
	// Logger receives the service's events; default: discarded, since
	// every failure is returned.
	Logger *slog.Logger
	// StoreTimeout bounds each store call. Default api.DefaultStoreTimeout.
	StoreTimeout time.Duration
	// Actor is who makes the changes through this backend: recorded in
	// the audit table (source cli) and on the backfills it creates.
	// Default "cli".
	Actor string
}

// Direct is the Backend that works on a store directly, in this process,
// through api.Service: what a replica's API would answer, minus a replica.
type Direct struct {
	svc   *api.Service
	load  func() (*jobs.Config, error)
	actor string

	once   sync.Once
	cfg    *jobs.Config
	cfgErr error
}

var _ Backend = (*Direct)(nil)

// NewDirect returns a Direct.
func NewDirect(opts DirectOptions) *Direct {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Actor == "" {
		opts.Actor = "cli"
	}
	s := &Direct{load: opts.Config, actor: opts.Actor}
	s.svc = api.NewService(api.ServiceOptions{
		Store: opts.Store,
		// Only called after config() succeeded.
		Config:       func() *jobs.Config { return s.cfg },
		Clock:        opts.Clock,
		Logger:       opts.Logger,
		StoreTimeout: opts.StoreTimeout,
	})
	return s
}

// config loads the job config once.
func (s *Direct) config() error {
	s.once.Do(func() {
		if s.load == nil {
			s.cfgErr = ErrNoConfig
			return
		}
		s.cfg, s.cfgErr = s.load()
		if s.cfgErr == nil && s.cfg == nil {
			s.cfgErr = ErrNoConfig
		}
	})
	if s.cfgErr != nil {
		return fmt.Errorf("loading the job config: %w", s.cfgErr)
	}
	return nil
}

// Jobs lists the jobs of the config.
func (s *Direct) Jobs(ctx context.Context) ([]api.Job, error) {
	if err := s.config(); err != nil {
		return nil, err
	}
	js, err := s.svc.Jobs(ctx)
	return js, local(err)
}

// Runs returns one page of run history.
func (s *Direct) Runs(ctx context.Context, q RunQuery) (api.RunPage, error) {
	f, err := api.ParseRunQuery(q.Values(), s.svc.Now())
	if err != nil {
		return api.RunPage{}, err
	}
	p, err := s.svc.Runs(ctx, f)
	return p, local(err)
}

// Run returns one run with its attempts.
func (s *Direct) Run(ctx context.Context, id int64) (api.RunDetail, error) {
	if err := checkRunID(id); err != nil {
		return api.RunDetail{}, err
	}
	d, err := s.svc.Run(ctx, id)
	return d, local(err)
}

// Logs returns the output of one attempt of a run.
func (s *Direct) Logs(ctx context.Context, id int64, attempt int) (api.RunLogs, error) {
	if err := checkRunID(id); err != nil {
		return api.RunLogs{}, err
	}
	l, err := s.svc.Logs(ctx, id, attempt)
	return l, local(err)
}

// FollowLogs follows the output of one attempt of a run, reading the
// store every api.DefaultLogPoll.
func (s *Direct) FollowLogs(ctx context.Context, id int64, attempt int, emit func(api.LogEvent) error) error {
	if err := checkRunID(id); err != nil {
		return err
	}
	return local(s.svc.FollowLogs(ctx, id, attempt, 0, emit))
}

// Trigger records a manual run of a job of the config.
func (s *Direct) Trigger(ctx context.Context, job string) (jobs.Run, error) {
	ctx = s.withActor(ctx)
	if err := s.config(); err != nil {
		return jobs.Run{}, err
	}
	r, err := s.svc.Trigger(ctx, job)
	return r, local(err)
}

// TriggerWith records a manual run of a job of the config with params,
// due at req.At; the params are checked against the config.
func (s *Direct) TriggerWith(ctx context.Context, job string, req api.TriggerRequest) (jobs.Run, error) {
	ctx = s.withActor(ctx)
	if err := s.config(); err != nil {
		return jobs.Run{}, err
	}
	r, err := s.svc.TriggerWith(ctx, job, req)
	return r, local(err)
}

// Backfill backfills a job of the config over a range of its ticks.
func (s *Direct) Backfill(ctx context.Context, job string, req api.BackfillRequest) (api.Backfill, error) {
	ctx = s.withActor(ctx)
	if err := s.config(); err != nil {
		return api.Backfill{}, err
	}
	if req.Actor == "" {
		req.Actor = s.actor
	}
	b, err := s.svc.Backfill(ctx, job, req)
	return b, local(err)
}

// CancelBackfill cancels the runs of a backfill still waiting.
func (s *Direct) CancelBackfill(ctx context.Context, id int64) (api.BackfillCancel, error) {
	ctx = s.withActor(ctx)
	if err := checkRunID(id); err != nil {
		return api.BackfillCancel{}, err
	}
	c, err := s.svc.CancelBackfill(ctx, id)
	return c, local(err)
}

// SetPaused pauses or resumes a job of the config.
func (s *Direct) SetPaused(ctx context.Context, job string, paused bool) (api.Job, error) {
	ctx = s.withActor(ctx)
	if err := s.config(); err != nil {
		return api.Job{}, err
	}
	j, err := s.svc.SetPaused(ctx, job, paused)
	return j, local(err)
}

// Cancel cancels or stops a run.
func (s *Direct) Cancel(ctx context.Context, id int64) (jobs.Run, error) {
	ctx = s.withActor(ctx)
	if err := checkRunID(id); err != nil {
		return jobs.Run{}, err
	}
	r, err := s.svc.Cancel(ctx, id)
	return r, local(err)
}

// Cluster returns the leader, its epoch and the recent nodes.
func (s *Direct) Cluster(ctx context.Context) (api.Cluster, error) {
	c, err := s.svc.Cluster(ctx)
	return c, local(err)
}

// local puts back the detail the service hides from remote clients: here
// the caller is the operator at the store, and there is no server log to
// look in.
func local(err error) error {
	var e *api.Error
	if !errors.As(err, &e) || !errors.Is(e.Err, api.ErrStore) {
		return err
	}
	detail := e.Err
	if j, ok := e.Err.(interface{ Unwrap() []error }); ok {
		for _, x := range j.Unwrap() {
			if x != api.ErrStore {
				detail = x
			}
		}
	}
	msg := "store call failed: " + detail.Error()
	if e.Status == http.StatusServiceUnavailable {
		msg = "the store did not answer in time: " + detail.Error()
	}
	return &api.Error{Status: e.Status, Msg: msg, Param: e.Param, Err: e.Err}
}

// withActor names the backend's actor as the one of ctx's changes.
func (s *Direct) withActor(ctx context.Context) context.Context {
	return storage.WithActor(ctx, storage.Actor{Name: s.actor, Source: storage.SourceCLI})
}
