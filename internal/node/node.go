package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/tock-sched/tock/internal/alerting"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/redact"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/scheduler"
	"github.com/tock-sched/tock/storage"
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
	Workers    int
	// ShutdownGrace is how long running attempts may finish after a
	// SIGTERM before they are canceled. Default 30s.
	ShutdownGrace time.Duration
	// LeaseTTL is the leader lease TTL (distributed mode). Default 6s.
	LeaseTTL time.Duration
	// AttemptLease is how long an attempt stays owned without a heartbeat.
	// Default worker.DefaultAttemptLease.
	AttemptLease time.Duration
	// ReapInterval and RequeueAfter tune the reaper (tests shorten them).
	ReapInterval time.Duration
	RequeueAfter time.Duration
	// DispatchTimeout fails runs no worker claimed for this long.
	DispatchTimeout time.Duration
	Logger          *slog.Logger
	// Listen is the address of the API, dashboard and /metrics (see
	// http.go); empty serves no HTTP.
	Listen string
	// APIToken and APIReadToken guard the API and dashboard (api.Auth).
	APIToken     string
	APIReadToken string
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

// Node is one running replica.
type Node struct {
	opts  Options
	log   *slog.Logger
	cfg   *jobs.Config
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

	Scheduler *scheduler.Scheduler // nil for role worker
	Workers   *worker.Pool         // nil for role scheduler
	reloader  *Reloader
	startedAt time.Time
	closeOnce sync.Once
	ops       opsSurface // metrics and HTTP server (http.go)
}

// Open loads the config, opens and migrates the store and builds the parts.
func Open(ctx context.Context, o Options) (*Node, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	cfg, err := jobfile.Load(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	n := &Node{opts: o, log: o.Logger, cfg: cfg}
	if n.store, err = OpenStore(ctx, o.StoreURL, o.Logger); err != nil {
		return nil, err
	}
	if err := n.store.Migrate(ctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("migrating store: %w", err)
	}
	n.clock = clock.Real{}
	if !IsEmbedded(o.StoreURL) {
		if err := n.syncClock(ctx); err != nil { // clock.go
			n.Close()
			return nil, err
		}
	}
	if IsEmbedded(o.StoreURL) {
		n.lease = memory.NewLease(nil)
		if n.queue, err = memory.NewQueue(memory.QueueOptions{}); err != nil {
			n.Close()
			return nil, err
		}
	} else {
		if n.pool, err = redis.NewPool(o.RedisURL); err != nil {
			n.Close()
			return nil, fmt.Errorf("--redis: %w", err)
		}
		lease, err := redis.NewLease(n.pool, redis.LeaseOptions{Cluster: o.Cluster, Token: redis.NewToken(o.NodeID), TTL: o.LeaseTTL,
			Clock: n.clock, Logger: o.Logger})
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("leader lease: %w", err)
		}
		n.lease, n.redisLease = lease, lease
		if n.queue, err = redis.NewQueue(n.pool, redis.QueueOptions{Cluster: o.Cluster, Logger: o.Logger}); err != nil {
			n.Close()
			return nil, fmt.Errorf("queue: %w", err)
		}
	}
	n.startedAt = n.clock.Now().UTC()
	n.initOps() // http.go: metrics, fed by the Events below
	if o.Role != RoleWorker {
		// The leader watches the jobs' alerts for as long as it leads.
		alerts := alerting.New(alerting.Options{
			Node: o.NodeID, Store: n.store, Config: n.Config, Clock: n.clock, Logger: o.Logger,
			Events: n.ops.metrics.AlertEvents(),
		})
		so := scheduler.Options{
			Node: o.NodeID, Store: n.store, Queue: n.queue, Lease: n.lease, Clock: n.clock, Logger: o.Logger,
			ReapInterval: o.ReapInterval, RequeueAfter: o.RequeueAfter, DispatchTimeout: o.DispatchTimeout,
			Lookahead: o.Lookahead, Healthy: n.clockHealthy, Term: alerts.Run,
			Events: n.ops.metrics.SchedulerEvents(),
		}
		if IsEmbedded(o.StoreURL) {
			// One replica, nobody to hand over to: retry at once.
			so.FaultBackoff = scheduler.DefaultRetryInterval
		}
		n.Scheduler = scheduler.New(cfg, so)
	}
	if o.Role != RoleScheduler {
		n.Workers = worker.New(cfg, worker.Options{
			Node: o.NodeID, Store: n.store, Queue: n.queue, Clock: n.clock, Logger: o.Logger,
			Workers: o.Workers, AttemptLease: o.AttemptLease, Healthy: n.clockHealthy,
			Events: n.ops.metrics.WorkerEvents(),
		})
	}
	n.reloader = NewReloader(o.ConfigPath, o.Logger, n.apply)
	return n, nil
}

// Config returns the config in force.
func (n *Node) Config() *jobs.Config { return n.reloader.Current(n.cfg) }

// apply installs a reloaded config.
func (n *Node) apply(cfg *jobs.Config) {
	if n.Scheduler != nil {
		n.Scheduler.SetConfig(cfg)
	}
	if n.Workers != nil {
		n.Workers.SetConfig(cfg)
	}
	n.publish(context.Background(), cfg)
}

// Run runs the replica until ctx ends, then shuts down in order: stop
// dispatching and release the lease, let running attempts finish within the
// grace, record their results, close the store.
func (n *Node) Run(ctx context.Context) error {
	defer n.Close()
	log := n.log
	if IsEmbedded(n.opts.StoreURL) {
		// A node's running attempts in the embedded store belong to its
		// previous process, which died: they are lost (I5).
		recovered, err := n.store.RecoverNode(ctx, n.opts.NodeID, n.clock.Now())
		if err != nil {
			return fmt.Errorf("recovering runs of the previous process: %w", err)
		}
		for _, r := range recovered {
			log.Warn("recovered run left running by a previous process", slog.String("job", r.Job),
				slog.Int64("run_id", r.ID), slog.String("status", string(r.Status)))
		}
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	if err := n.startHTTP(bg); err != nil { // http.go
		stopBG()
		return err
	}
	defer n.stopHTTP()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); n.reloader.Run(bg) }()
	go func() { defer wg.Done(); n.membership(bg) }()
	go func() { defer wg.Done(); n.runClock(bg) }() // clock.go
	if n.Workers != nil {
		if err := n.Workers.Start(context.WithoutCancel(ctx)); err != nil {
			stopBG()
			wg.Wait()
			return err
		}
	}
	if n.Scheduler != nil {
		if err := n.Scheduler.Start(context.WithoutCancel(ctx)); err != nil {
			stopBG()
			wg.Wait()
			return err
		}
	}
	log.Info("tock started", slog.String("version", Version), slog.String("role", n.opts.Role),
		slog.String("store", redact.URL(n.opts.StoreURL)), slog.Int("jobs", len(n.cfg.Jobs)), slog.String("config_digest", n.cfg.Digest))
	<-ctx.Done()
	log.Info("shutting down", slog.Duration("grace", n.opts.ShutdownGrace))
	n.stopHTTP() // http.go: no new triggers while the rest stops
	if n.Scheduler != nil {
		n.Scheduler.Stop()
	}
	if n.Workers != nil {
		gctx, cancel := context.WithTimeout(context.Background(), n.opts.ShutdownGrace)
		n.Workers.Shutdown(gctx)
		cancel()
	}
	stopBG()
	wg.Wait()
	log.Info("stopped")
	return nil
}

// membership publishes this node's record every few seconds.
func (n *Node) membership(ctx context.Context) {
	t := time.NewTicker(nodeHeartbeat)
	defer t.Stop()
	for {
		n.publish(ctx, n.Config())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) publish(ctx context.Context, cfg *jobs.Config) {
	host, _ := os.Hostname()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rec := storage.Node{ID: n.opts.NodeID, Host: host, Role: n.opts.Role, Version: Version,
		Digest: cfg.Digest, StartedAt: n.startedAt, Heartbeat: n.clock.Now().UTC()}
	if n.synced != nil {
		rec.ClockOffset, rec.ClockRTT, _ = n.synced.Offset()
	}
	err := n.store.UpsertNode(ctx, rec)
	if err != nil && ctx.Err() == nil {
		n.log.Warn("publishing node record", slog.Any("error", err))
	}
}

// Store returns the node's store.
func (n *Node) Store() storage.Store { return n.store }

// Close releases the store and Redis connections.
func (n *Node) Close() {
	n.closeOnce.Do(func() {
		if n.redisLease != nil {
			n.redisLease.Close()
		}
		if n.queue != nil {
			n.queue.Close()
		}
		if n.pool != nil {
			n.pool.Close()
		}
		if n.store != nil {
			n.store.Close()
		}
	})
}
