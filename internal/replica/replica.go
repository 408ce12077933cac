package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tock-sched/tock/internal/alerting"
	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/redact"
	"github.com/tock-sched/tock/internal/tracing"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/scheduler"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/fallback"
	"github.com/tock-sched/tock/storage/memory"
	"github.com/tock-sched/tock/storage/redis"
	"github.com/tock-sched/tock/worker"
)

// Roles a replica can take.
const (
	RoleAll       = "all"
	RoleScheduler = "scheduler"
	RoleWorker    = "worker"
)

// Defaults of Options.
const (
	DefaultShutdownGrace = 30 * time.Second
	DefaultLeaseTTL      = 6 * time.Second
	DefaultCluster       = "default"
	nodeHeartbeat        = 5 * time.Second
	// MinNodeAlive is the least --node-alive: above the node heartbeat
	// interval with a margin, or live nodes would look dead between
	// heartbeats.
	MinNodeAlive = 6 * time.Second
)

// Version is tock's version, set at build time with -ldflags.
var Version = "dev"

// Options is everything the command line says about a replica.
type Options struct {
	ConfigPath string
	StoreURL   string
	RedisURL   string
	Cluster    string
	NodeID     string
	Role       string
	// Labels are the replica's labels in text form, "zone=a,gpu=true"
	// (--labels): its workers claim runs of jobs whose run_on labels it
	// carries. Check parses them into ParsedLabels. Changing them takes a
	// restart.
	Labels       string
	ParsedLabels jobs.Labels
	Workers      int
	// ShutdownGrace is how long running attempts may finish after a
	// SIGTERM before they are canceled. Default 30s.
	ShutdownGrace time.Duration
	// LeaseTTL is the leader lease TTL (distributed mode). Default 6s.
	LeaseTTL time.Duration
	// RedisFallbackAfter is how long Redis must have been unreachable before
	// standbys compete for the store's lease row alone (distributed mode).
	// Default fallback.DefaultAfter.
	RedisFallbackAfter time.Duration
	// AttemptLease is how long an attempt stays owned without a heartbeat.
	// Default worker.DefaultAttemptLease.
	AttemptLease time.Duration
	// OutputFlush is how often a running attempt's output goes to the
	// store while it prints (worker.Options.OutputFlush): 0 means
	// worker.DefaultOutputFlush, negative turns live output off.
	OutputFlush time.Duration
	// ReapInterval and RequeueAfter tune the reaper (tests shorten them).
	ReapInterval time.Duration
	RequeueAfter time.Duration
	// DispatchTimeout fails runs no worker claimed for this long.
	DispatchTimeout time.Duration
	// NodeAlive is how recent a node's heartbeat must be for the leader
	// to count it live for broadcast shards and their pins
	// (scheduler.Options.NodeAlive). At least MinNodeAlive; 0 means
	// scheduler.DefaultNodeAlive.
	NodeAlive time.Duration
	Logger    *slog.Logger
	// Listen is the address of the API, dashboard and /metrics (see
	// http.go); empty serves no HTTP.
	Listen string
	// APIToken and APIReadToken guard the API and dashboard (api.Auth);
	// APITokenName names APIToken (default "token") and APITokens are the
	// named tokens of --api-token-file.
	APIToken     string
	APIReadToken string
	APITokenName string
	APITokens    []api.NamedToken
	// Pprof serves net/http/pprof on Listen under /debug/pprof/.
	Pprof bool
	// Lookahead is how long before its tick the leader writes a run
	// (scheduler.Options.Lookahead).
	Lookahead time.Duration
	// ClockWarnOffset and MaxClockOffset bound this replica's clock offset
	// to the store's (I9): above the first it warns, above the second it
	// neither leads nor claims. Defaults clock.DefaultWarnOffset and
	// clock.DefaultMaxOffset.
	ClockWarnOffset time.Duration
	MaxClockOffset  time.Duration
}

// Check validates the combination of options.
func (o *Options) Check() error {
	switch o.Role {
	case "":
		o.Role = RoleAll
	case RoleAll, RoleScheduler, RoleWorker:
	default:
		return fmt.Errorf("--role %q: want all, scheduler or worker", o.Role)
	}
	if o.NodeID == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--node not given and hostname unknown: %w", err)
		}
		o.NodeID = h
	}
	if o.Cluster == "" {
		o.Cluster = DefaultCluster
	}
	if o.NodeAlive != 0 && o.NodeAlive < MinNodeAlive {
		return fmt.Errorf("--node-alive %s: want at least %s (nodes publish a heartbeat every %s)", o.NodeAlive, MinNodeAlive, nodeHeartbeat)
	}
	labels, err := jobs.ParseLabels(o.Labels)
	if err != nil {
		return fmt.Errorf("--labels %q: %w", o.Labels, err)
	}
	o.ParsedLabels = labels
	if o.ShutdownGrace < 0 {
		return errors.New("--shutdown-grace must not be negative")
	}
	if o.Lookahead < 0 || o.Lookahead > time.Minute {
		return fmt.Errorf("--lookahead %s: want between 0 and 1m", o.Lookahead)
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.LeaseTTL < 600*time.Millisecond {
		return fmt.Errorf("--lease-ttl %s: must be at least 600ms", o.LeaseTTL)
	}
	embedded := IsEmbedded(o.StoreURL)
	switch {
	case embedded && o.RedisURL != "":
		return errors.New("--redis needs a shared store: the embedded SQLite store serves one replica; use --store mysql://user:pass@host:3306/db with --redis")
	case !embedded && o.RedisURL == "":
		return errors.New("--store mysql://… is the distributed mode and needs --redis redis://host:6379/0 for the leader lease and queue")
	case embedded && o.Role != RoleAll:
		return fmt.Errorf("--role %s needs the distributed mode (--store mysql://… --redis …); the embedded store runs one replica with role all", o.Role)
	}
	if o.ClockWarnOffset < 0 || o.MaxClockOffset < 0 {
		return errors.New("--clock-warn-offset and --max-clock-offset must not be negative")
	}
	if o.ClockWarnOffset == 0 {
		o.ClockWarnOffset = clock.DefaultWarnOffset
	}
	if o.MaxClockOffset == 0 {
		o.MaxClockOffset = clock.DefaultMaxOffset
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Replica is one running tock process: its store, queue and lease, and
// the scheduler and worker pool its role asks for. Its membership record in
// the store is a storage.Node.
type Replica struct {
	scheduleLoads atomic.Int64
	// releasing is set while releaseAfterBuild's goroutine runs.
	releasing atomic.Bool

	opts  Options
	log   *slog.Logger
	store storage.Store
	queue storage.Queue
	lease storage.Lease
	pool  *redis.Pool
	// clock is the cluster's time (I9): the store's clock as measured by
	// synced in distributed mode, the process clock when embedded.
	clock  clock.Clock
	synced *clock.Synced // nil when embedded
	// redisLease is the lease when it is Redis's, closed after the scheduler.
	redisLease *redis.Lease
	// fallback wraps redisLease with the store's lease row (distributed
	// mode).
	fallback *fallback.Lease

	Scheduler *scheduler.Scheduler // nil for role worker
	Workers   *worker.Pool         // nil for role scheduler
	reloader  *Reloader
	startedAt time.Time
	closeOnce sync.Once
	ops       opsSurface // metrics and HTTP server (http.go)
	// tracing is nil unless the OTEL_* variables turn tracing on.
	tracing *tracing.Tracing
}

// Open loads the config, opens and migrates the store and builds the parts.
func Open(ctx context.Context, o Options) (*Replica, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	cfg, err := jobfile.Load(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	if o.Role != RoleScheduler {
		// Only a replica that runs jobs needs tock-exec.
		if err := checkSupervisor(o.ConfigPath, cfg); err != nil {
			return nil, err
		}
	}
	r := &Replica{opts: o, log: o.Logger}
	// The parse's garbage goes back to the OS beside the rest of the
	// start (store, migrations, the leader's schedule build), not before
	// it: a forced collection of a million-job parse takes half a second.
	r.releaseAfterBuild(len(cfg.Jobs))
	// A replica that goes silent (partition, freeze) must not keep the
	// leader row locked past the time a new leader needs it (I11).
	if r.store, err = openStore(ctx, o.StoreURL, o.Logger, sessionIdleTimeout(o.LeaseTTL)); err != nil {
		return nil, err
	}
	if err := r.store.Migrate(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("migrating store: %w", err)
	}
	r.clock = clock.Real{}
	if !IsEmbedded(o.StoreURL) {
		if err := r.syncClock(ctx); err != nil { // clock.go
			r.Close()
			return nil, err
		}
	}
	if IsEmbedded(o.StoreURL) {
		r.lease = memory.NewLease(nil)
		if r.queue, err = memory.NewQueue(memory.QueueOptions{}); err != nil {
			r.Close()
			return nil, err
		}
	} else {
		if r.pool, err = redis.NewPool(o.RedisURL); err != nil {
			r.Close()
			return nil, fmt.Errorf("--redis: %w", err)
		}
		lease, err := redis.NewLease(r.pool, redis.LeaseOptions{Cluster: o.Cluster, Token: redis.NewToken(o.NodeID), TTL: o.LeaseTTL,
			Clock: r.clock, Logger: o.Logger})
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("leader lease: %w", err)
		}
		r.redisLease = lease
		r.fallback, err = fallback.New(fallback.Options{Redis: lease, Store: r.store, Node: o.NodeID, After: o.RedisFallbackAfter,
			Clock: r.clock, Logger: o.Logger.With(slog.String("component", "lease"), slog.String("node", o.NodeID))})
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("leader lease: %w", err)
		}
		r.lease = r.fallback
		if r.queue, err = redis.NewQueue(r.pool, redis.QueueOptions{Cluster: o.Cluster, Logger: o.Logger}); err != nil {
			r.Close()
			return nil, fmt.Errorf("queue: %w", err)
		}
	}
	r.startedAt = r.clock.Now().UTC()
	r.initOps() // http.go: metrics, fed by the Events below
	if r.tracing, err = tracing.Setup(ctx, tracing.Options{Node: o.NodeID, Logger: o.Logger,
		ExportFailed: r.ops.metrics.TraceExportFailed}); err != nil {
		r.Close()
		return nil, err
	}
	if o.Role != RoleWorker {
		// The leader watches the jobs' alerts for as long as it leads.
		alerts := alerting.New(alerting.Options{
			Node: o.NodeID, Store: r.store, Config: r.Config, Clock: r.clock, Logger: o.Logger,
			Events: r.ops.metrics.AlertEvents(),
		})
		so := scheduler.Options{
			Node: o.NodeID, Store: r.store, Queue: r.queue, Lease: r.lease, Clock: r.clock, Logger: o.Logger,
			ReapInterval: o.ReapInterval, RequeueAfter: o.RequeueAfter, DispatchTimeout: o.DispatchTimeout,
			NodeAlive: o.NodeAlive,
			Lookahead: o.Lookahead, Healthy: r.clockHealthy, Term: alerts.Run,
			Events: r.schedulerEvents(), Tracer: r.tracing.Tracer(),
		}
		if IsEmbedded(o.StoreURL) {
			// One replica, nobody to hand over to: retry at once.
			so.FaultBackoff = scheduler.DefaultRetryInterval
		}
		r.Scheduler = scheduler.New(cfg, so)
	}
	if o.Role != RoleScheduler {
		r.Workers = worker.New(cfg, worker.Options{
			Node: o.NodeID, Labels: o.ParsedLabels, Store: r.store, Queue: r.queue, Clock: r.clock, Logger: o.Logger,
			Workers: o.Workers, AttemptLease: o.AttemptLease, OutputFlush: o.OutputFlush, Healthy: r.clockHealthy,
			Events: r.ops.metrics.WorkerEvents(), Tracer: r.tracing.Tracer(),
		})
	}
	r.reloader = NewReloader(o.ConfigPath, cfg, o.Logger, r.apply)
	r.reloader.Changed = func(prev, cfg *jobs.Config, err error) {
		r.configChanged(storage.ActionConfigReload, prev, cfg, err)
	}
	return r, nil
}

// schedulerEvents are the metrics' scheduler hooks, counting schedule
// builds too (ScheduleLoads).
func (r *Replica) schedulerEvents() scheduler.Events {
	ev := r.ops.metrics.SchedulerEvents()
	loaded := ev.Loaded
	ev.Loaded = func(n int) {
		r.scheduleLoads.Add(1)
		if loaded != nil {
			loaded(n)
		}
		r.releaseAfterBuild(n)
	}
	return ev
}

// releaseAfterBuild returns the memory a load left behind to the OS once a
// schedule of n jobs is built (by then the replaced config and the parse's
// garbage are unreachable), on a goroutine of its own so that the
// scheduler goes on; one at a time. A replica without a scheduler does it
// after applying a reload.
func (r *Replica) releaseAfterBuild(n int) {
	if n < releaseMinJobs || !r.releasing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer r.releasing.Store(false)
		releaseMemory(r.log, n)
	}()
}

// ScheduleLoads is how many times this replica's leader built its schedule
// from a config (term starts and reloads).
func (r *Replica) ScheduleLoads() int64 { return r.scheduleLoads.Load() }

// Config returns the config in force.
func (r *Replica) Config() *jobs.Config { return r.reloader.Current() }

// apply installs a reloaded config.
func (r *Replica) apply(cfg *jobs.Config) {
	if r.Scheduler != nil {
		r.Scheduler.SetConfig(cfg)
	}
	if r.Workers != nil {
		r.Workers.SetConfig(cfg)
	}
	r.publish(context.Background(), cfg)
	if r.Scheduler == nil {
		r.releaseAfterBuild(len(cfg.Jobs))
	}
}

// Run runs the replica until ctx ends, then shuts down in order: stop
// dispatching and release the lease, let running attempts finish within the
// grace, record their results, close the store.
func (r *Replica) Run(ctx context.Context) error {
	defer r.Close()
	log := r.log
	if IsEmbedded(r.opts.StoreURL) {
		// A replica's running attempts in the embedded store belong to its
		// previous process, which died: they are lost (I5).
		recovered, err := r.store.RecoverNode(ctx, r.opts.NodeID, r.clock.Now())
		if err != nil {
			return fmt.Errorf("recovering runs of the previous process: %w", err)
		}
		for _, run := range recovered {
			log.Warn("recovered run left running by a previous process", slog.String("job", run.Job),
				slog.Int64("run_id", run.ID), slog.String("status", string(run.Status)))
		}
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	if err := r.startHTTP(bg); err != nil { // http.go
		stopBG()
		return err
	}
	defer r.stopHTTP()
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); r.configChanged(storage.ActionConfigLoad, nil, r.Config(), nil) }()
	go func() { defer wg.Done(); r.reloader.Run(bg) }()
	go func() { defer wg.Done(); r.membership(bg) }()
	go func() { defer wg.Done(); r.runClock(bg) }() // clock.go
	if r.Workers != nil {
		if err := r.Workers.Start(context.WithoutCancel(ctx)); err != nil {
			stopBG()
			wg.Wait()
			return err
		}
	}
	if r.Scheduler != nil {
		if err := r.Scheduler.Start(context.WithoutCancel(ctx)); err != nil {
			stopBG()
			wg.Wait()
			return err
		}
	}
	log.Info("tock started", append([]any{slog.String("version", Version), slog.String("role", r.opts.Role),
		slog.String("store", redact.URL(r.opts.StoreURL)), slog.Int("jobs", len(r.Config().Jobs)), slog.String("config_digest", r.Config().Digest)},
		r.tracing.LogAttrs()...)...)
	<-ctx.Done()
	log.Info("shutting down", slog.Duration("grace", r.opts.ShutdownGrace))
	r.stopHTTP() // http.go: no new triggers while the rest stops
	if r.Scheduler != nil {
		r.Scheduler.Stop()
	}
	if r.Workers != nil {
		gctx, cancel := context.WithTimeout(context.Background(), r.opts.ShutdownGrace)
		r.Workers.Shutdown(gctx)
		cancel()
	}
	stopBG()
	wg.Wait()
	log.Info("stopped")
	return nil
}

// membership publishes this replica's node record every few seconds.
func (r *Replica) membership(ctx context.Context) {
	t := time.NewTicker(nodeHeartbeat)
	defer t.Stop()
	for {
		r.publish(ctx, r.Config())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Replica) publish(ctx context.Context, cfg *jobs.Config) {
	host, _ := os.Hostname()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rec := storage.Node{ID: r.opts.NodeID, Host: host, Role: r.opts.Role, Version: Version,
		Digest: cfg.Digest, StartedAt: r.startedAt, Heartbeat: r.clock.Now().UTC(), Labels: r.opts.ParsedLabels}
	if r.synced != nil {
		rec.ClockOffset, rec.ClockRTT, _ = r.synced.Offset()
	}
	err := r.store.UpsertNode(ctx, rec)
	if err != nil && ctx.Err() == nil {
		r.log.Warn("publishing node record", slog.Any("error", err))
	}
}

// Store returns the replica's store.
func (r *Replica) Store() storage.Store { return r.store }

// Close releases the store and Redis connections.
func (r *Replica) Close() {
	r.closeOnce.Do(func() {
		// After the scheduler and the pool stopped: their last spans
		// are queued. Bounded, so an unreachable collector cannot hold
		// up a stop.
		ctx, cancel := context.WithTimeout(context.Background(), tracing.DefaultShutdownTimeout)
		if err := r.tracing.Shutdown(ctx); err != nil {
			r.log.Warn("flushing spans at shutdown", slog.Any("error", err))
		}
		cancel()
		if r.redisLease != nil {
			r.redisLease.Close()
		}
		if r.queue != nil {
			r.queue.Close()
		}
		if r.pool != nil {
			r.pool.Close()
		}
		if r.store != nil {
			r.store.Close()
		}
	})
}

// checkSupervisor fails when the config has command or shell jobs and
// tock-exec, the supervisor they run under, is missing: better a clear
// error at start than every run of those jobs failing.
func checkSupervisor(path string, cfg *jobs.Config) error {
	for _, j := range cfg.Jobs {
		if len(j.Command) == 0 && j.Shell == "" {
			continue
		}
		if _, err := executor.FindSupervisor(); err != nil {
			return fmt.Errorf("%s: job %q is a command or shell job: %w", path, j.Name, err)
		}
		return nil
	}
	return nil
}
