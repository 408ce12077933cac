package scheduler

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Defaults of Options.
const (
	DefaultOnTime          = 5 * time.Second
	DefaultPollInterval    = time.Second
	DefaultReapInterval    = time.Second
	DefaultRequeueAfter    = 3 * time.Second
	DefaultDispatchTimeout = 10 * time.Minute
	DefaultNodeAlive       = 20 * time.Second
	DefaultStoreTimeout    = 10 * time.Second
	DefaultRetryInterval   = time.Second
	DefaultMaxBatch        = 5000
	DefaultPruneInterval   = time.Minute
	DefaultPruneBatch      = 1000
	// maxDefaultStoreBound caps the default StoreBound (two thirds of the
	// lease TTL)
	// for long leases such as the in-process one.
	maxDefaultStoreBound = 5 * time.Second
	// maxDefaultFaultBackoff caps the default FaultBackoff (the lease TTL).
	maxDefaultFaultBackoff = 10 * time.Second
)

// Options configure a Scheduler.
type Options struct {
	// Node is this replica's id, recorded as leader.
	Node   string
	Store  storage.Store
	Queue  storage.Queue
	Lease  storage.Lease
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()

	// OnTime is how late a tick may be and still dispatch as an ordinary
	// schedule run; later ticks follow the misfire policy. Default 5s.
	OnTime time.Duration
	// Lookahead is how far ahead of its tick a run is written to the store
	// and its doorbell rung (with its not_before): workers claim it ahead
	// and start it at the tick, so that neither the insert nor the claim is
	// on the path from the tick to the start. 0 (the default) writes runs
	// at their tick and rings doorbells when runs are due.
	Lookahead time.Duration
	// PollInterval is how often the leader reads pause state and manual
	// triggers from the store. Default 1s.
	PollInterval time.Duration
	// ReapInterval is how often the leader reaps expired attempt leases and
	// re-enqueues due queued runs. Default 1s.
	ReapInterval time.Duration
	// RequeueAfter is how long a queued run may sit unclaimed before its
	// doorbell is rung again. Default 3s: a doorbell lost in transit (a
	// BRPOP answered to a replica that was cut off or frozen) delays its
	// run by about that much.
	RequeueAfter time.Duration
	// DispatchTimeout fails queued runs no worker claimed for this long.
	// Default 10m.
	DispatchTimeout time.Duration
	// NodeAlive is how recent a node's heartbeat (published every 5s) must
	// be for the node to count as live: a broadcast tick gets one shard per
	// live matching node, and a queued shard pinned to a node no longer
	// live is released to any matching replica. Default 20s.
	NodeAlive time.Duration
	// StoreTimeout bounds each store call. Default 10s.
	StoreTimeout time.Duration
	// RetryInterval is the pause before a standby tries the lease again, or a
	// leader that lost its session starts a new one. Default 1s (at most a
	// third of the lease TTL).
	RetryInterval time.Duration
	// StoreBound is how long a leader may go without completing a store
	// round trip before it steps down, and how long a standby's store check
	// before competing for the lease may take (I11). Default two thirds of
	// the lease TTL, at most 5s: a blackholed store is noticed well before
	// the lease would pass to another replica on its own.
	StoreBound time.Duration
	// FaultBackoff is how long a replica whose term ended for a fault (store
	// unreachable, lease deadline, fenced, clock) waits before it competes
	// for the lease again, ignoring release notifications meanwhile, so
	// that a healthy replica takes over. Default the lease TTL, at most 10s.
	FaultBackoff time.Duration
	// Healthy, when set, tells whether this replica may lead by its own
	// state, e.g. its clock's offset to the store (I9); a replica that is
	// not healthy does not compete, and a leader that stops being healthy
	// steps down. Default always healthy.
	Healthy func() error
	// MaxBatch caps the rows of one dispatch transaction. Default 5000.
	MaxBatch int
	// PruneInterval is how often the leader deletes the history that the
	// config's history block no longer keeps. Default 1m.
	PruneInterval time.Duration
	// PruneBatch bounds the runs one prune transaction deletes; full
	// batches follow each other after a short pause. Default 1000.
	PruneBatch int
	// Term, when set, is run with each leadership term: started in a
	// goroutine of its own once the term's epoch is fenced, with a context
	// that ends when the term ends, and waited for before the leader steps
	// down (Events.SteppedDown comes after it returned). It must return soon
	// after ctx ends. It cannot end the term; it suits leader-only work
	// that needs no fencing, such as watching alerts (internal/alerting).
	Term func(ctx context.Context, epoch int64)
	// Jitter returns the random delay for a job with jitter; default uniform
	// in [0, job.Jitter).
	Jitter func(*jobs.Job) time.Duration
	// Events, when set, receives leadership and dispatch events (metrics,
	// tests).
	Events Events
	// Tracer, when set, records a dispatch span per run the leader writes
	// and stores its traceparent with the row (trace.go). Default nil: no
	// tracing, and no traceparent written.
	Tracer trace.Tracer
}

// Events are hooks for metrics and tests; each may be nil.
type Events struct {
	Elected     func(epoch int64)
	SteppedDown func(epoch int64, reason error)
	Dispatched  func(runs []storage.NewRun, queued int)
	Reaped      func(kind string, n int)
	// Shards is called with the number of broadcast shards a dispatch
	// queued (Dispatched counts their ticks).
	Shards func(n int)
	// DependentsQueued is called with the dependency runs the leader
	// queued (after:).
	DependentsQueued func(runs []jobs.Run)
	StoreError       func(op string, err error)
	RenewFailed      func(err error)
	// Loaded is called after the leader (re)built its schedule from a config.
	Loaded func(jobs int)
	// TermStart is called when a term has its schedule: warm when taken
	// over from the standby's (with the ticks it planned again), cold when
	// built from the store's cursors (ticks 0; Loaded follows).
	TermStart func(warm bool, ticks int)
	// Pruned is called with the number of runs each prune call deleted,
	// when it deleted any.
	Pruned func(n int64)
}

func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OnTime <= 0 {
		o.OnTime = DefaultOnTime
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.ReapInterval <= 0 {
		o.ReapInterval = DefaultReapInterval
	}
	if o.RequeueAfter <= 0 {
		o.RequeueAfter = DefaultRequeueAfter
	}
	if o.DispatchTimeout <= 0 {
		o.DispatchTimeout = DefaultDispatchTimeout
	}
	if o.NodeAlive <= 0 {
		o.NodeAlive = DefaultNodeAlive
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
		if o.Lease != nil && o.Lease.TTL()/3 < o.RetryInterval {
			o.RetryInterval = o.Lease.TTL() / 3
		}
	}
	if o.StoreBound <= 0 {
		o.StoreBound = maxDefaultStoreBound
		if o.Lease != nil && o.Lease.TTL()*2/3 < o.StoreBound {
			o.StoreBound = o.Lease.TTL() * 2 / 3
		}
	}
	if o.FaultBackoff <= 0 {
		o.FaultBackoff = maxDefaultFaultBackoff
		if o.Lease != nil && o.Lease.TTL() < o.FaultBackoff {
			o.FaultBackoff = o.Lease.TTL()
		}
	}
	if o.Healthy == nil {
		o.Healthy = func() error { return nil }
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = DefaultPruneInterval
	}
	if o.PruneBatch <= 0 {
		o.PruneBatch = DefaultPruneBatch
	}
	if o.Jitter == nil {
		o.Jitter = func(j *jobs.Job) time.Duration {
			if j.Jitter <= 0 {
				return 0
			}
			return time.Duration(rand.Int64N(int64(j.Jitter)))
		}
	}
}
