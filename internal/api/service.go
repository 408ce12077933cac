package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Defaults of ServiceOptions.
const (
	DefaultStoreTimeout = 10 * time.Second
	DefaultPingTimeout  = 2 * time.Second
	// NodeAlive is how recent a node's heartbeat must be for it to count
	// as alive (nodes publish every 5s).
	NodeAlive = 30 * time.Second
	// NodeHistory is how far back GET /cluster lists nodes.
	NodeHistory = 24 * time.Hour
)

// Lease states reported by readiness.
const (
	LeaseLeader     = "leader"
	LeaseStandby    = "standby"
	LeaseWorkerOnly = "worker-only"
)

// Waker is the part of the scheduler the API uses: after a trigger, pause or
// resume, the local scheduler (if leader) reads the store at once.
type Waker interface{ Wake() }

// ServiceOptions configure a Service.
type ServiceOptions struct {
	Store storage.Store
	// Config returns the config in force on this node.
	Config func() *jobs.Config
	// Waker is the local scheduler; nil on a worker-only node.
	Waker Waker
	// NodeID is this node's id, marked in the cluster view.
	NodeID string
	// LeaseBackend returns the lease backend in force (Check.Backend);
	// optional.
	LeaseBackend func() string
	// LeaseState returns LeaseLeader, LeaseStandby or LeaseWorkerOnly.
	// Default: LeaseWorkerOnly.
	LeaseState func() string
	// ConfigError returns the last config reload error, nil when the file
	// in force is valid. Default: always nil.
	ConfigError func() error
	// ClockError, when set, reports whether this replica's clock offset to
	// the store is measured and within bounds (I9), for readiness.
	ClockError func() error
	// QueuePing, when set, checks the queue (Redis) for readiness.
	QueuePing func(ctx context.Context) error
	// StoreError, when set, is told of every failed store call (metrics).
	StoreError func(op string)
	Clock      clock.Clock  // default clock.Real
	Logger     *slog.Logger // default slog.Default()
	// StoreTimeout bounds each store call. Default 10s.
	StoreTimeout time.Duration
	// PingTimeout bounds the readiness store ping. Default 2s.
	PingTimeout time.Duration
	// LogPoll is how often a followed attempt's output is read from the
	// store (FollowLogs). Default DefaultLogPoll.
	LogPoll time.Duration
}

// Service is what the API and the dashboard do, independent of HTTP.
type Service struct {
	opts ServiceOptions
	log  *slog.Logger
}

// NewService returns a Service.
func NewService(opts ServiceOptions) *Service {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = DefaultStoreTimeout
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = DefaultPingTimeout
	}
	if opts.LogPoll <= 0 {
		opts.LogPoll = DefaultLogPoll
	}
	if opts.LeaseState == nil {
		opts.LeaseState = func() string { return LeaseWorkerOnly }
	}
	if opts.ConfigError == nil {
		opts.ConfigError = func() error { return nil }
	}
	return &Service{opts: opts, log: opts.Logger.With(slog.String("component", "api"))}
}

// Node returns this node's id and lease state (leader, standby or
// worker-only).
func (s *Service) Node() (id, lease string) { return s.opts.NodeID, s.opts.LeaseState() }

// Now is the service's clock reading.
func (s *Service) Now() time.Time { return s.opts.Clock.Now() }

// call makes one store call, operation op, bounded by StoreTimeout, and
// returns what it returns, a failure as failed makes it.
func call[T any](ctx context.Context, s *Service, op string, f func(context.Context) (T, error)) (T, error) {
	v, err := storecall.Do(ctx, s.opts.StoreTimeout, f)
	return v, s.failed(ctx, op, err)
}

// failed turns the error of store call op into what the caller returns:
// nil, not-found and conflict as they are; any other failure is logged with
// its detail and becomes a client-safe *Error.
func (s *Service) failed(ctx context.Context, op string, err error) error {
	if err == nil || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		return err
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// The client went away; nothing to report.
		return storeError(err)
	}
	if s.opts.StoreError != nil {
		s.opts.StoreError(op)
	}
	s.log.Error("store call failed", slog.String("op", op), slog.Any("error", err))
	return storeError(fmt.Errorf("%s: %w", op, err))
}

// Job is a job as the API shows it: its definition's schedule and limits
// (not its command, environment or request, which may hold secrets), its
// pause state, next fire and last run.
type Job struct {
	Name     string `json:"name"`
	Schedule string `json:"schedule"`
	Timezone string `json:"timezone"`
	// Executor is command, shell or http.
	Executor string `json:"executor"`
	// Paused is true when the job is paused in the store or in the config.
	Paused bool `json:"paused"`
	// PausedInConfig is true when the config file pauses it; resume cannot
	// override that.
	PausedInConfig bool `json:"paused_in_config"`
	// NextFire is the next tick after now, null if the schedule never fires
	// again; a paused job's ticks are not run.
	NextFire       *time.Time `json:"next_fire"`
	LastRun        *LastRun   `json:"last_run"`
	Timeout        string     `json:"timeout"`
	Retries        int        `json:"retries"`
	Concurrency    string     `json:"concurrency"`
	MaxConcurrency int        `json:"max_concurrency"`
	Misfire        string     `json:"misfire"`
	Digest         string     `json:"digest"`
	// RunOn is the job's placement (run_on); absent for a job that runs
	// anywhere, once per tick.
	RunOn *jobs.Placement `json:"run_on,omitempty"`
	// After lists the upstream jobs whose runs start this job's runs, with
	// their condition; absent for a job without.
	After []jobs.Upstream `json:"after,omitempty"`
	// Dependents names the jobs whose after list names this job.
	Dependents []string `json:"dependents,omitempty"`
	// Params are the parameters the job declares, for trigger forms.
	Params []jobs.Param `json:"params,omitempty"`
}

// LastRun is the newest run of a job.
type LastRun struct {
	ID          int64          `json:"id"`
	Status      jobs.RunStatus `json:"status"`
	Trigger     jobs.Trigger   `json:"trigger"`
	ScheduledAt time.Time      `json:"scheduled_at"`
	FinishedAt  *time.Time     `json:"finished_at"`
}

func (s *Service) jobView(j *jobs.Job, st storage.JobState, last *jobs.Run, now time.Time) Job {
	v := Job{
		Name: j.Name, Schedule: j.Schedule, Timezone: j.Location().String(), Executor: j.ExecutorKind(),
		Paused: j.Paused || st.Paused, PausedInConfig: j.Paused,
		Timeout: j.Timeout.String(), Retries: j.Retries, Concurrency: string(j.Concurrency),
		MaxConcurrency: j.MaxConcurrency, Misfire: string(j.Misfire), Digest: j.Digest, RunOn: j.RunOn,
	}
	if j.Params != nil {
		v.Params = j.Params.List
	}
	if n := j.Next(now); !n.IsZero() {
		v.NextFire = &n
	}
	if j.Deps != nil {
		v.After = j.Deps.After
	}
	for _, d := range s.opts.Config().Dependents(j.Name) {
		v.Dependents = append(v.Dependents, d.Name)
	}
	if last != nil {
		v.LastRun = &LastRun{ID: last.ID, Status: last.Status, Trigger: last.Trigger, ScheduledAt: last.ScheduledAt.UTC(), FinishedAt: utcPtr(last.FinishedAt)}
	}
	return v
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// state reads the pause flags and the last run of every job.
func (s *Service) state(ctx context.Context) (map[string]storage.JobState, map[string]jobs.Run, error) {
	states, err := call(ctx, s, "job_states", s.opts.Store.JobStates)
	if err != nil {
		return nil, nil, err
	}
	last, err := call(ctx, s, "last_runs", s.opts.Store.LastRuns)
	if err != nil {
		return nil, nil, err
	}
	return states, last, nil
}

// Jobs lists the jobs of this node's config, by name.
func (s *Service) Jobs(ctx context.Context) ([]Job, error) {
	cfg := s.opts.Config()
	states, last, err := s.state(ctx)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	out := make([]Job, 0, len(cfg.Jobs))
	for _, j := range cfg.Jobs {
		var lr *jobs.Run
		if r, ok := last[j.Name]; ok {
			lr = &r
		}
		out = append(out, s.jobView(j, states[j.Name], lr, now))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// Job returns one job of this node's config.
func (s *Service) Job(ctx context.Context, name string) (Job, error) {
	if err := CheckJobName("name", name); err != nil {
		return Job{}, err
	}
	j := s.opts.Config().Job(name)
	if j == nil {
		return Job{}, unknownJob(name)
	}
	states, last, err := s.state(ctx)
	if err != nil {
		return Job{}, err
	}
	var lr *jobs.Run
	if r, ok := last[name]; ok {
		lr = &r
	}
	return s.jobView(j, states[name], lr, s.Now()), nil
}

// Trigger records a manual run of a job of this node's config, due now,
// with the job's defaults; the leader queues it (at once if the leader is
// this node). It is TriggerWith with an empty request.
func (s *Service) Trigger(ctx context.Context, name string) (jobs.Run, error) {
	return s.TriggerWith(ctx, name, TriggerRequest{})
}

// SetPaused pauses or resumes a job cluster-wide and returns its new view.
func (s *Service) SetPaused(ctx context.Context, name string, paused bool) (Job, error) {
	if err := CheckJobName("name", name); err != nil {
		return Job{}, err
	}
	if s.opts.Config().Job(name) == nil {
		return Job{}, unknownJob(name)
	}
	err := storecall.Exec(ctx, s.opts.StoreTimeout, func(ctx context.Context) error {
		return s.opts.Store.SetPaused(ctx, name, paused)
	})
	if err != nil {
		return Job{}, s.failed(ctx, "set_paused", err)
	}
	s.wake()
	msg := "job resumed"
	if paused {
		msg = "job paused"
	}
	s.log.Info(msg, slog.String("job", name))
	return s.Job(ctx, name)
}

func (s *Service) wake() {
	if s.opts.Waker != nil {
		s.opts.Waker.Wake()
	}
}

// RunPage is one page of run history, newest first.
type RunPage struct {
	Runs []jobs.Run `json:"runs"`
	// NextCursor fetches the next (older) page; empty on the last page. A
	// full page may be followed by an empty one.
	NextCursor string `json:"next_cursor"`
}

// Runs lists runs matching f (see ParseRunQuery).
func (s *Service) Runs(ctx context.Context, f storage.RunFilter) (RunPage, error) {
	if f.Limit < 1 || f.Limit > MaxRunLimit {
		return RunPage{}, paramError("limit", "%d is out of range (want 1 to %d)", f.Limit, MaxRunLimit)
	}
	runs, err := call(ctx, s, "list_runs", func(ctx context.Context) ([]jobs.Run, error) {
		return s.opts.Store.ListRuns(ctx, f)
	})
	if err != nil {
		return RunPage{}, err
	}
	if runs == nil {
		runs = []jobs.Run{}
	}
	p := RunPage{Runs: runs}
	if len(runs) == f.Limit {
		last := runs[len(runs)-1]
		p.NextCursor = EncodeCursor(storage.Cursor{ScheduledAt: last.ScheduledAt, ID: last.ID})
	}
	return p, nil
}

// RunDetail is a run with all its attempts, output included.
type RunDetail struct {
	Run      jobs.Run       `json:"run"`
	Attempts []jobs.Attempt `json:"attempts"`
}

// Run returns one run with its attempts.
func (s *Service) Run(ctx context.Context, id int64) (RunDetail, error) {
	d, err := call(ctx, s, "get_run", func(ctx context.Context) (RunDetail, error) {
		run, attempts, err := s.opts.Store.GetRun(ctx, id)
		return RunDetail{Run: run, Attempts: attempts}, err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return d, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("run %d not found", id), Err: err}
	}
	if err != nil {
		return d, err
	}
	if d.Attempts == nil {
		d.Attempts = []jobs.Attempt{}
	}
	return d, nil
}

// Cancel cancels a queued or scheduled run at once, or asks the worker of a
// running one to stop it.
func (s *Service) Cancel(ctx context.Context, id int64) (jobs.Run, error) {
	run, err := call(ctx, s, "request_cancel", func(ctx context.Context) (jobs.Run, error) {
		return s.opts.Store.RequestCancel(ctx, id, s.Now().UTC())
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return run, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("run %d not found", id), Err: err}
	case errors.Is(err, storage.ErrConflict):
		msg := fmt.Sprintf("run %d already finished", id)
		if run.Status != "" {
			msg = fmt.Sprintf("run %d already finished (%s)", id, run.Status)
		}
		return run, &Error{Status: http.StatusConflict, Msg: msg, Err: err}
	case err != nil:
		return run, err
	}
	s.log.Info("cancel requested", slog.String("job", run.Job), slog.Int64("run_id", run.ID), slog.String("status", string(run.Status)))
	return run, nil
}

// Cluster is the cluster as the store knows it.
type Cluster struct {
	Leader string `json:"leader"`
	Epoch  int64  `json:"epoch"`
	// LeaderDigest is the config digest the leader publishes; empty when
	// the leader has no node record.
	LeaderDigest string `json:"leader_config_digest"`
	// Mismatches counts alive nodes whose config digest differs from the
	// leader's.
	Mismatches int           `json:"config_digest_mismatches"`
	Nodes      []ClusterNode `json:"nodes"`
	// Lease is the store's lease row while someone holds it: the leader's
	// lease backend (redis, or mysql while Redis is unreachable). Absent
	// when nobody holds it, and in embedded mode (in-process lease).
	Lease *ClusterLease `json:"lease,omitempty"`
}

// ClusterLease is the held lease row.
type ClusterLease struct {
	Backend string    `json:"backend"`
	Node    string    `json:"node"`
	Until   time.Time `json:"until"`
}

// ClusterNode is a node record with what it means now.
type ClusterNode struct {
	storage.Node
	Alive  bool `json:"alive"`
	Leader bool `json:"leader"`
	// Self marks the node that answered.
	Self bool `json:"self"`
	// DigestMismatch is true when an alive node's config digest differs
	// from the leader's: it will not run jobs whose definition differs.
	DigestMismatch bool `json:"config_digest_mismatch"`
}

// ClockOffsetText shows the node's clock offset to the store (store minus
// local; I9) with its measurement's uncertainty, half the round trip, or
// "-" for a node that published none (embedded: the process clock is the
// store's).
func (n ClusterNode) ClockOffsetText() string {
	if n.ClockOffset == 0 && n.ClockRTT == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.3fs ±%s", n.ClockOffset.Seconds(), (n.ClockRTT / 2).Round(10*time.Microsecond))
}

// Cluster returns the leader, its epoch and the nodes seen in the last day.
func (s *Service) Cluster(ctx context.Context) (Cluster, error) {
	c, err := call(ctx, s, "leader", func(ctx context.Context) (Cluster, error) {
		leader, epoch, err := s.opts.Store.Leader(ctx)
		return Cluster{Leader: leader, Epoch: epoch}, err
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return c, err
	}
	now := s.Now()
	nodes, err := call(ctx, s, "nodes", func(ctx context.Context) ([]storage.Node, error) {
		return s.opts.Store.Nodes(ctx, now.Add(-NodeHistory))
	})
	if err != nil {
		return c, err
	}
	for _, n := range nodes {
		if n.ID == c.Leader {
			c.LeaderDigest = n.Digest
		}
	}
	c.Nodes = make([]ClusterNode, 0, len(nodes))
	for _, n := range nodes {
		cn := ClusterNode{Node: n, Alive: now.Sub(n.Heartbeat) < NodeAlive, Leader: c.Leader != "" && n.ID == c.Leader, Self: n.ID == s.opts.NodeID}
		cn.DigestMismatch = cn.Alive && c.LeaderDigest != "" && n.Digest != c.LeaderDigest
		if cn.DigestMismatch {
			c.Mismatches++
		}
		c.Nodes = append(c.Nodes, cn)
	}
	sort.Slice(c.Nodes, func(a, b int) bool { return c.Nodes[a].ID < c.Nodes[b].ID })
	row, err := call(ctx, s, "lease_row", s.opts.Store.LeaseRow)
	if err != nil {
		return c, err
	}
	if row.Held() {
		c.Lease = &ClusterLease{Backend: row.Backend, Node: row.Node, Until: row.Until}
	}
	return c, nil
}

// Readiness is the answer of /readyz.
type Readiness struct {
	Ready  bool           `json:"ready"`
	Checks ReadinessCheck `json:"checks"`
}

// ReadinessCheck holds each check's result.
type ReadinessCheck struct {
	Store  Check `json:"store"`
	Config Check `json:"config"`
	Lease  Check `json:"lease"`
	// Queue is the queue's (Redis's) check; absent when the node has no
	// queue to check.
	Queue *Check `json:"queue,omitempty"`
	// Clock is the clock offset check (I9); absent when embedded.
	Clock *Check `json:"clock,omitempty"`
}

// Check is one readiness check.
type Check struct {
	OK bool `json:"ok"`
	// State is the lease state: leader, standby or worker-only.
	State string `json:"state,omitempty"`
	// Backend is the leader lease's backend this replica holds or competes
	// on: redis, mysql (the store's lease row, while Redis is unreachable)
	// or memory (embedded).
	Backend string `json:"backend,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Ready checks the store answers a ping within the ping timeout and the
// config file in force is valid, and reports the lease state (every state
// is ready: a standby serves and executes).
func (s *Service) Ready(ctx context.Context) Readiness {
	var r Readiness
	pctx, cancel := context.WithTimeout(ctx, s.opts.PingTimeout)
	err := s.opts.Store.Ping(pctx)
	cancel()
	switch {
	case err == nil:
		r.Checks.Store.OK = true
	case pctx.Err() != nil:
		r.Checks.Store.Error = fmt.Sprintf("store did not answer a ping within %s", s.opts.PingTimeout)
	default:
		r.Checks.Store.Error = "store ping failed (see the server log)"
	}
	if err != nil && ctx.Err() == nil {
		if s.opts.StoreError != nil {
			s.opts.StoreError("ping")
		}
		s.log.Warn("readiness: store ping failed", slog.Any("error", err))
	}
	if err := s.opts.ConfigError(); err != nil {
		r.Checks.Config.Error = "the config file is invalid; the previous config stays in force: " + err.Error()
	} else {
		r.Checks.Config.OK = true
	}
	r.Checks.Lease = Check{OK: true, State: s.opts.LeaseState()}
	if s.opts.LeaseBackend != nil {
		r.Checks.Lease.Backend = s.opts.LeaseBackend()
	}
	r.Ready = r.Checks.Store.OK && r.Checks.Config.OK && r.Checks.Lease.OK
	if s.opts.QueuePing != nil {
		qctx, cancel := context.WithTimeout(ctx, s.opts.PingTimeout)
		err := s.opts.QueuePing(qctx)
		cancel()
		q := &Check{OK: err == nil}
		if err != nil {
			q.Error = "queue (Redis) unreachable: workers claim due runs from the store and the leader leads on the store's lease row until it is back"
			if ctx.Err() == nil {
				s.log.Warn("readiness: queue ping failed", slog.Any("error", err))
			}
		}
		// Not a readiness condition: without Redis the replica goes on
		// serving, leading and claiming through the store.
		r.Checks.Queue = q
	}
	if s.opts.ClockError != nil {
		c := &Check{OK: true}
		if err := s.opts.ClockError(); err != nil {
			c = &Check{Error: "clock: " + err.Error() + "; this replica neither leads nor claims runs"}
		}
		r.Checks.Clock = c
		r.Ready = r.Ready && c.OK
	}
	return r
}
