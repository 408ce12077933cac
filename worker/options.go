package worker

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/storage"
)

// Defaults of Options.
const (
	DefaultWorkers           = 16
	DefaultAttemptLease      = 30 * time.Second
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultStoreTimeout      = 10 * time.Second
	DefaultFinishRetryFor    = 5 * time.Minute
	DefaultClaimBatch        = 64
	DefaultFinishBatch       = 128
	DefaultClaimTimeout      = 2 * time.Second
	DefaultPollInterval      = 500 * time.Millisecond
	DefaultOutputFlush       = time.Second
	// minStartMargin is the smallest default StartMargin.
	minStartMargin = 100 * time.Millisecond
)

// Options configure a Pool.
type Options struct {
	Node string
	// Labels are this replica's labels (tock run --labels): it claims
	// only runs whose run_on labels it carries all of.
	Labels jobs.Labels
	Store  storage.Store
	Queue  storage.Queue
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()

	// Workers is the number of attempts this replica runs at once. Default 16.
	Workers int
	// AttemptLease is how long an attempt stays owned without a heartbeat;
	// the reaper marks it lost after that. Default 30s.
	AttemptLease time.Duration
	// HeartbeatInterval is how often a running attempt renews its lease and
	// checks for a cancel request. Default 5s (at most a third of the lease).
	HeartbeatInterval time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL. Default
	// executor.DefaultKillGrace.
	KillGrace time.Duration
	// OutputLimit caps captured output per attempt. Default
	// executor.DefaultOutputLimit.
	OutputLimit int
	// OutputFlush is how often a running attempt's output goes to the
	// store while new bytes arrive (live output: Store.FlushOutput, or
	// with a heartbeat): at most one snapshot of the capped output per
	// interval, whatever the job prints. Negative turns live output off
	// (output reaches the store when the attempt ends). Default 1s.
	OutputFlush time.Duration
	// StoreTimeout bounds each store call. Default 10s.
	StoreTimeout time.Duration
	// ClaimTimeout is how long a claim may take before the pool hands its
	// doorbells back, so that another replica runs the runs, and takes no
	// more until the store answers again; the claim itself goes on within
	// StoreTimeout, and what it claims is still run (or fenced, I10).
	// Default 2s, at most a third of AttemptLease.
	ClaimTimeout time.Duration
	// StartMargin is how long before the end of its lease, as the claim or
	// the last heartbeat set it, an attempt must have started and is
	// stopped if it could not renew (I10). Default a tenth of
	// AttemptLease, at least 100ms.
	StartMargin time.Duration
	// Healthy, when set, tells whether this replica may claim runs by its
	// own state, e.g. its clock's offset to the store (I9). Default always.
	Healthy func() error
	// FinishRetryFor is how long a result write is retried while the store
	// is unreachable. Default 5m.
	FinishRetryFor time.Duration
	// ClaimBatch bounds the runs the pop loop takes from the queue and
	// claims in one store transaction (never more than the free slots).
	// Default 64.
	ClaimBatch int
	// PollInterval is how often the pool claims due runs straight from the
	// store (Store.ClaimDue) while the queue does not answer (Redis down),
	// ±20% jitter so that replicas do not poll in step. Default 500ms.
	PollInterval time.Duration
	// FinishBatch bounds the results recorded in one store transaction:
	// the finisher writes whatever results are waiting, up to this many,
	// while the previous batch is in flight. Default 128.
	FinishBatch int
	// Exec runs one attempt; default executor.Execute. Like Execute, it
	// must call the options' StartGate before it starts anything, and not
	// start the job when the gate refuses (the gate also waits for a run
	// claimed ahead to be due). Attempts of http jobs reach it through the
	// per-target circuit breakers (breaker.go).
	Exec func(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result
	// Breaker configures the per-target circuit breakers of http jobs;
	// Breaker.Changed defaults to Events.BreakerChanged. Default 5
	// failures in a row open a target's breaker for 30s.
	Breaker BreakerOptions
	// Events, when set, receives attempt events (metrics, tests).
	Events Events
	// Tracer, when set, records claim, attempt and finish spans under the
	// run's dispatch span and gives jobs the attempt's traceparent
	// (trace.go). Default nil: no tracing, and jobs get no traceparent.
	Tracer trace.Tracer
}

// Events are hooks for metrics and tests; each may be nil.
type Events struct {
	// Started is called when an attempt was claimed and is about to run.
	Started func(run jobs.Run, fireDelay time.Duration)
	// NotStarted is called when a claimed attempt was not started because
	// its lease deadline had passed (I10).
	NotStarted func(run jobs.Run)
	// Finished is called after the result was recorded (or given up on).
	Finished func(run jobs.Run, res executor.Result)
	// OutputStored is called when a snapshot of a running attempt's
	// output of bytes bytes was stored, by a flush or with a heartbeat.
	OutputStored func(run jobs.Run, bytes int, heartbeat bool)
	// StoreError is called on a failed store call.
	StoreError func(op string, err error)
	// BreakerChanged is called when an http target's circuit breaker is
	// created (closed) or changes state. It must be quick and must not
	// call back into the pool.
	BreakerChanged func(target string, state BreakerState)
	// Polling is called with true when the pool starts claiming due runs
	// from the store because the queue does not answer, and with false
	// when it goes back to doorbells.
	Polling func(on bool)
}

func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.AttemptLease <= 0 {
		o.AttemptLease = DefaultAttemptLease
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.HeartbeatInterval > o.AttemptLease/3 {
		o.HeartbeatInterval = o.AttemptLease / 3
	}
	if o.KillGrace <= 0 {
		o.KillGrace = executor.DefaultKillGrace
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = executor.DefaultOutputLimit
	}
	if o.OutputFlush == 0 {
		o.OutputFlush = DefaultOutputFlush
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.ClaimTimeout <= 0 {
		o.ClaimTimeout = DefaultClaimTimeout
	}
	if o.ClaimTimeout > o.AttemptLease/3 {
		o.ClaimTimeout = o.AttemptLease / 3
	}
	if o.StartMargin <= 0 {
		o.StartMargin = max(o.AttemptLease/10, minStartMargin)
	}
	if o.StartMargin >= o.AttemptLease/2 {
		o.StartMargin = o.AttemptLease / 2
	}
	if o.Healthy == nil {
		o.Healthy = func() error { return nil }
	}
	if o.FinishRetryFor <= 0 {
		o.FinishRetryFor = DefaultFinishRetryFor
	}
	if o.ClaimBatch <= 0 {
		o.ClaimBatch = DefaultClaimBatch
	}
	if o.FinishBatch <= 0 {
		o.FinishBatch = DefaultFinishBatch
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Exec == nil {
		o.Exec = executor.Execute
	}
	if o.Breaker.Changed == nil {
		o.Breaker.Changed = o.Events.BreakerChanged
	}
}
