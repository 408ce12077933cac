package alerting

import (
	"log/slog"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Defaults of Options.
const (
	DefaultInterval      = 5 * time.Second
	DefaultStoreTimeout  = 10 * time.Second
	DefaultNotifyQueue   = 100
	DefaultNotifyBackoff = time.Second
)

// Options configure a Watcher.
type Options struct {
	// Node is this replica's id, named in notifications.
	Node string
	// Store is read for the jobs' runs; the Watcher never writes to it.
	Store storage.Store
	// Config returns the config in force: the jobs, their alert settings
	// and the notify block. Required.
	Config func() *jobs.Config
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()

	// Interval is how often the leader checks the jobs' alerts
	// (alert_late, alert_failures). Default 5s.
	Interval time.Duration
	// StoreTimeout bounds each store call. Default 10s.
	StoreTimeout time.Duration
	// NotifyQueue bounds the alert notifications waiting for the webhook;
	// when full the oldest is dropped. Default 100.
	NotifyQueue int
	// NotifyBackoff is the pause before the first retry of a failed
	// notification; it doubles each retry, up to a minute. Default 1s.
	NotifyBackoff time.Duration
	// Events, when set, receives alert changes and store errors (metrics,
	// tests).
	Events Events
}

// Events are hooks for metrics and tests; each may be nil.
type Events struct {
	// Alert is called when a job alert starts firing or resolves. A new
	// term starts with no alert firing.
	Alert func(a Alert)
	// StoreError is called when a check failed on the store (op "alerts").
	StoreError func(op string, err error)
}

// Watcher watches the jobs' alerts while this replica leads. Its Run is the
// scheduler's term hook (scheduler.Options.Term): one call per leadership
// term, which keeps the term's alert state and ends with the term.
type Watcher struct {
	opts Options
	log  *slog.Logger
}

// New returns a Watcher; the scheduler runs it for each term.
func New(opts Options) *Watcher {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = DefaultStoreTimeout
	}
	if opts.NotifyQueue <= 0 {
		opts.NotifyQueue = DefaultNotifyQueue
	}
	if opts.NotifyBackoff <= 0 {
		opts.NotifyBackoff = DefaultNotifyBackoff
	}
	return &Watcher{
		opts: opts,
		// Alerts are the leader's: their lines keep the scheduler's
		// component, so log queries written for them keep working.
		log: opts.Logger.With(slog.String("component", "scheduler"), slog.String("node", opts.Node)),
	}
}

func (w *Watcher) storeError(op string, err error) {
	if w.opts.Events.StoreError != nil {
		w.opts.Events.StoreError(op, err)
	}
}
