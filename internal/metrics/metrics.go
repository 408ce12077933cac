package metrics

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tock-sched/tock/internal/alerting"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/scheduler"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/worker"
)

// QueueLenTimeout bounds the queue length read of one scrape.
const QueueLenTimeout = time.Second

// Histogram buckets, in seconds.
var (
	// RunDurationBuckets span a quick script to a nightly batch.
	RunDurationBuckets = []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600}
	// FireDelayBuckets span an on-time start to one delayed by a failover.
	FireDelayBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
)

// Reaper action kinds, as the scheduler reports them.
var reaperKinds = []string{"lost", "requeued", "unclaimed", "released", "unplaced"}

// Dispatch outcomes counted by tock_dispatched_total.
var dispatchStatuses = []string{"queued", "missed", "skipped"}

// Metrics holds tock's collectors and their registry.
type Metrics struct {
	reg *prometheus.Registry

	runs          *prometheus.CounterVec
	attempts      *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	fireDelay     prometheus.Histogram
	renewFailures prometheus.Counter
	reaper        *prometheus.CounterVec
	storeErrors   *prometheus.CounterVec
	dispatched    *prometheus.CounterVec
	pruned        prometheus.Counter
	breakerState  *prometheus.GaugeVec
	notStarted    prometheus.Counter
	jobAlert      *prometheus.GaugeVec
	termStarts    *prometheus.CounterVec
	shards        prometheus.Counter
	liveWrites    *prometheus.CounterVec
	liveBytes     prometheus.Counter
	traceFailed   prometheus.Counter

	observeOnce sync.Once
}

// New returns Metrics with the event-fed collectors and the Go and process
// collectors registered; Observe adds the gauges read from a running replica.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tock_runs_total",
			Help: "Runs that reached a terminal state on this replica: finished by its worker pool, or recorded missed by its scheduler; by job, status and trigger (why the run existed: schedule, catchup, manual, retry, dependency, backfill).",
		}, []string{"job", "status", "trigger"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tock_attempts_total",
			Help: "Attempts executed by this replica's worker pool, by job and attempt status.",
		}, []string{"job", "status"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tock_run_duration_seconds",
			Help:    "Wall time of each attempt executed by this replica, by job.",
			Buckets: RunDurationBuckets,
		}, []string{"job"}),
		fireDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tock_fire_delay_seconds",
			Help:    "Delay from a run's scheduled time (or, for retries and manual runs, its not-before time) to its attempt's start.",
			Buckets: FireDelayBuckets,
		}),
		renewFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tock_lease_renewal_failures_total",
			Help: "Leader lease renewals that failed with an error (a lost lease ends the term instead).",
		}),
		reaper: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tock_reaper_actions_total",
			Help: "Runs handled by the leader's reaper: lost (attempt lease expired), requeued (doorbell rung again), unclaimed (failed: no worker took it), unplaced (of the unclaimed, those whose run_on labels no live replica matched), released (broadcast shards whose pinned node stopped heartbeating, handed to any matching replica).",
		}, []string{"kind"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tock_store_errors_total",
			Help: "Failed store calls, by operation.",
		}, []string{"op"}),
		dispatched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tock_dispatched_total",
			Help: "Ticks dispatched by this replica while leader: queued (a run was queued), missed (recorded missed), skipped (not queued: overlapping run under forbid, or already dispatched).",
		}, []string{"status"}),
		jobAlert: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tock_job_alert",
			Help: "1 while a job's alert (late, failures) fires, 0 once it resolved; set by the leader only, cleared when it steps down.",
		}, []string{"job", "alert"}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tock_history_pruned_total",
			Help: "Runs deleted from history by this replica's retention pruner (history.keep, history.keep_per_job) while leader.",
		}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tock_http_breaker_state",
			Help: "State of this replica's circuit breaker for each http job target (scheme://host:port): 0 closed, 1 half-open, 2 open.",
		}, []string{"target"}),
	}
	m.notStarted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tock_attempts_not_started_total",
		Help: "Claimed attempts this replica did not start because their lease deadline had passed (e.g. after a freeze); their runs are retried.",
	})
	m.termStarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tock_leader_term_starts_total",
		Help: "Leadership terms this replica started, by how it got its schedule: warm (taken over from its standby schedule after the last leader's watermark) or cold (built from every job's cursor in the store).",
	}, []string{"start"})
	m.termStarts.WithLabelValues("warm")
	m.termStarts.WithLabelValues("cold")
	m.shards = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tock_broadcast_shards_total",
		Help: "Shards of broadcast ticks (run_on.broadcast) queued by this replica while leader, one per live matching replica per tick; tock_dispatched_total counts their ticks.",
	})
	m.liveWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tock_live_output_writes_total",
		Help: "Snapshots of running attempts' output this replica stored (live output, every --output-flush while a job prints), by how: flush (a statement of its own) or heartbeat (carried by a lease renewal).",
	}, []string{"via"})
	m.liveWrites.WithLabelValues("flush")
	m.liveWrites.WithLabelValues("heartbeat")
	m.liveBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tock_live_output_bytes_total",
		Help: "Bytes of output in the live output snapshots this replica stored (each at most the output cap).",
	})
	m.traceFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tock_trace_export_failures_total",
		Help: "Spans this replica failed to export (OTLP endpoint unreachable or refusing); they are dropped, runs are not affected.",
	})
	m.reg.MustRegister(m.pruned, m.breakerState, m.notStarted, m.termStarts, m.shards, m.traceFailed, m.liveWrites, m.liveBytes)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.runs, m.attempts, m.runDuration, m.fireDelay, m.renewFailures, m.reaper, m.storeErrors, m.dispatched,
		m.jobAlert,
	)
	for _, k := range reaperKinds {
		m.reaper.WithLabelValues(k)
	}
	for _, s := range dispatchStatuses {
		m.dispatched.WithLabelValues(s)
	}
	return m
}

// Registry returns the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Names returns, sorted, every metric name the registry can export, whether
// or not a series has been observed yet (Gather omits a vector without
// children): each family's name and, for tock's histograms, its _bucket,
// _sum and _count series. The gauges Observe adds are included once it ran.
// Dashboards and alert rules are checked against it.
func (m *Metrics) Names() []string {
	names := map[string]bool{}
	for _, n := range describedNames(m.reg) {
		names[n] = true
	}
	for _, n := range describedNames(m.runDuration, m.fireDelay) {
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			names[n+s] = true
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// descName finds the fully-qualified name in a Desc's String form, the only
// place client_golang exposes it.
var descName = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*")`)

func describedNames(cs ...prometheus.Collector) []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		defer close(ch)
		for _, c := range cs {
			c.Describe(ch)
		}
	}()
	var descs []*prometheus.Desc
	for d := range ch {
		descs = append(descs, d)
	}
	names := make([]string, 0, len(descs))
	for _, d := range descs {
		sm := descName.FindStringSubmatch(d.String())
		if sm == nil {
			panic("metrics: cannot read the name of " + d.String())
		}
		n, err := strconv.Unquote(sm[1])
		if err != nil {
			panic("metrics: cannot read the name of " + d.String())
		}
		names = append(names, n)
	}
	return names
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	opts := promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError}
	if log != nil {
		opts.ErrorLog = slogPrinter{log}
	}
	return promhttp.HandlerFor(m.reg, opts)
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("serving metrics", slog.Any("error", v))
}

// Sources are the live values read at scrape time. Any may be nil: the
// gauge then reads 0 (a role without that part).
type Sources struct {
	// QueueLen reads the number of doorbells waiting; NaN is exported when
	// it fails or takes longer than QueueLenTimeout.
	QueueLen func(ctx context.Context) (int64, error)
	// Busy and Capacity are the worker pool's slots.
	Busy     func() int
	Capacity func() int
	// LeaseBackend is the lease backend in force: the one of the term held,
	// else the one standbys compete on (memory, redis, mysql).
	LeaseBackend func() string
	// IsLeader and Epoch are the scheduler's leadership.
	IsLeader func() bool
	Epoch    func() int64
	// ConfigState reports the last reload error (nil: the config in force
	// is the file's) and how many reloads failed in all.
	ConfigState func() (lastErr error, failures int64)
	// Jobs is the number of jobs in the config in force.
	Jobs func() int
	// ClockOffset reports the measured offset of the store's clock to this
	// replica's (store minus local; I9) and its sample's round trip; ok is
	// false when there is none (embedded).
	ClockOffset func() (offset, rtt time.Duration, ok bool)
}

// backendGauge is 1 while the lease backend in force is backend.
func backendGauge(f func() string, backend string) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "tock_lease_backend",
		Help:        "1 for the leader lease backend in force on this replica (held, or competed on): redis; mysql, the store's lease row, while Redis is unreachable; memory (embedded).",
		ConstLabels: prometheus.Labels{"backend": backend},
	}, func() float64 {
		if f != nil && f() == backend {
			return 1
		}
		return 0
	})
}

// Observe registers the gauges read from src. Only the first call has an
// effect.
func (m *Metrics) Observe(src Sources) {
	m.observeOnce.Do(func() { m.observe(src) })
}

func (m *Metrics) observe(src Sources) {
	intOf := func(f func() int) func() float64 {
		return func() float64 {
			if f == nil {
				return 0
			}
			return float64(f())
		}
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tock_queue_depth",
			Help: "Doorbells waiting in the queue (NaN when the queue did not answer in time).",
		}, func() float64 {
			if src.QueueLen == nil {
				return 0
			}
			ctx, cancel := context.WithTimeout(context.Background(), QueueLenTimeout)
			defer cancel()
			n, err := src.QueueLen(ctx)
			if err != nil {
				if !errors.Is(err, storage.ErrClosed) {
					m.StoreError("queue_len")
				}
				return math.NaN()
			}
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "tock_worker_slots",
			Help:        "Worker pool slots of this replica: busy (running an attempt) and capacity.",
			ConstLabels: prometheus.Labels{"state": "busy"},
		}, intOf(src.Busy)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "tock_worker_slots",
			Help:        "Worker pool slots of this replica: busy (running an attempt) and capacity.",
			ConstLabels: prometheus.Labels{"state": "capacity"},
		}, intOf(src.Capacity)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tock_leader",
			Help: "1 while this replica holds the leader lease with a fenced epoch, else 0.",
		}, func() float64 {
			if src.IsLeader != nil && src.IsLeader() {
				return 1
			}
			return 0
		}),
		backendGauge(src.LeaseBackend, "memory"),
		backendGauge(src.LeaseBackend, "redis"),
		backendGauge(src.LeaseBackend, "mysql"),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tock_leader_epoch",
			Help: "Epoch of this replica's current or last leadership term (0 if it never led).",
		}, func() float64 {
			if src.Epoch == nil {
				return 0
			}
			return float64(src.Epoch())
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tock_config_reload_failures_total",
			Help: "Config reloads that failed validation; the previous config stayed in force.",
		}, func() float64 {
			if src.ConfigState == nil {
				return 0
			}
			_, n := src.ConfigState()
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tock_config_valid",
			Help: "1 if the last config load or reload succeeded, 0 if the file in place is invalid and an older config runs.",
		}, func() float64 {
			if src.ConfigState == nil {
				return 1
			}
			if err, _ := src.ConfigState(); err != nil {
				return 0
			}
			return 1
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tock_jobs",
			Help: "Jobs in the config in force on this replica.",
		}, intOf(src.Jobs)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tock_clock_offset_seconds",
			Help: "The store's clock minus this replica's, as last measured (times are corrected by it; 0 when embedded).",
		}, func() float64 {
			if src.ClockOffset == nil {
				return 0
			}
			off, _, _ := src.ClockOffset()
			return off.Seconds()
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tock_clock_rtt_seconds",
			Help: "Round trip of the store clock sample the offset was measured with (its error is at most half of it).",
		}, func() float64 {
			if src.ClockOffset == nil {
				return 0
			}
			_, rtt, _ := src.ClockOffset()
			return rtt.Seconds()
		}),
	)
}

// TraceExportFailed counts spans whose export failed (tracing.Options.ExportFailed).
func (m *Metrics) TraceExportFailed(spans int) { m.traceFailed.Add(float64(spans)) }

// StoreError counts a failed store call of operation op.
func (m *Metrics) StoreError(op string) { m.storeErrors.WithLabelValues(op).Inc() }

// SchedulerEvents returns hooks that feed the scheduler's counters.
func (m *Metrics) SchedulerEvents() scheduler.Events {
	return scheduler.Events{
		Dispatched: m.observeDispatch,
		Reaped: func(kind string, n int) {
			m.reaper.WithLabelValues(kind).Add(float64(n))
		},
		StoreError:  func(op string, _ error) { m.StoreError(op) },
		RenewFailed: func(error) { m.renewFailures.Inc() },
		Pruned:      func(n int64) { m.pruned.Add(float64(n)) },
		Shards:      func(n int) { m.shards.Add(float64(n)) },
		TermStart: func(warm bool, _ int) {
			m.termStarts.WithLabelValues(map[bool]string{true: "warm", false: "cold"}[warm]).Inc()
		},
		// Only the leader watches alerts: an ex-leader's gauges would
		// otherwise stay stuck at what it last saw.
		SteppedDown: func(int64, error) { m.jobAlert.Reset() },
	}
}

// AlertEvents returns hooks that feed the job alert gauge; the scheduler's
// events clear it when the leader steps down.
func (m *Metrics) AlertEvents() alerting.Events {
	return alerting.Events{
		Alert:      m.observeAlert,
		StoreError: func(op string, _ error) { m.StoreError(op) },
	}
}

func (m *Metrics) observeAlert(a alerting.Alert) {
	v := 0.0
	if a.Firing {
		v = 1
	}
	m.jobAlert.WithLabelValues(a.Job, string(a.Kind)).Set(v)
}

func (m *Metrics) observeDispatch(runs []storage.NewRun, queued int) {
	planned := 0
	for _, r := range runs {
		switch r.Status {
		case jobs.StatusMissed:
			m.dispatched.WithLabelValues("missed").Inc()
			m.runs.WithLabelValues(r.Job, string(jobs.StatusMissed), string(r.Trigger)).Inc()
		case jobs.StatusSkipped:
			m.dispatched.WithLabelValues("skipped").Inc()
		default:
			planned++
		}
	}
	m.dispatched.WithLabelValues("queued").Add(float64(queued))
	if planned > queued {
		m.dispatched.WithLabelValues("skipped").Add(float64(planned - queued))
	}
}

// WorkerEvents returns hooks that feed the worker pool's counters and
// histograms.
func (m *Metrics) WorkerEvents() worker.Events {
	return worker.Events{
		Started: func(_ jobs.Run, delay time.Duration) {
			m.fireDelay.Observe(max(delay, 0).Seconds())
		},
		Finished:   m.observeFinish,
		NotStarted: func(jobs.Run) { m.notStarted.Inc() },
		OutputStored: func(_ jobs.Run, bytes int, heartbeat bool) {
			via := "flush"
			if heartbeat {
				via = "heartbeat"
			}
			m.liveWrites.WithLabelValues(via).Inc()
			m.liveBytes.Add(float64(bytes))
		},
		StoreError: func(op string, _ error) { m.StoreError(op) },
		BreakerChanged: func(target string, s worker.BreakerState) {
			m.breakerState.WithLabelValues(target).Set(float64(s))
		},
	}
}

func (m *Metrics) observeFinish(run jobs.Run, res executor.Result) {
	// A result the pool could not record comes with an empty run: there is
	// no job to label it with, and the store error was counted already.
	if run.Job == "" {
		return
	}
	m.attempts.WithLabelValues(run.Job, string(res.Status)).Inc()
	m.runDuration.WithLabelValues(run.Job).Observe(max(res.Duration, 0).Seconds())
	if run.Status.Terminal() {
		m.runs.WithLabelValues(run.Job, string(run.Status), string(run.Trigger)).Inc()
	}
}
