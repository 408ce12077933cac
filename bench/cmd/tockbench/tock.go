package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tock-sched/tock/bench/stats"
	"github.com/tock-sched/tock/bench/tockrun"
	"github.com/tock-sched/tock/internal/e2e"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/sqlite"
)

// tockEnv is what every tock scenario shares.
type tockEnv struct {
	bin       string
	dir       string
	mysqlAddr string
	redisAddr string
	sink      *tockrun.Sink
	workers   int // --workers of the embedded replica
	dworkers  int // --workers of each distributed replica
	log       func(format string, args ...any)
	// profileDir, when set, receives CPU profiles of a replica taken during
	// the throughput run (its replicas then serve --debug-pprof).
	profileDir string
}

// deployment is a running tock: one embedded process or three replicas.
type deployment struct {
	name    string
	logs    []string
	store   storage.Store
	cluster *e2e.Cluster
	proc    *e2e.Proc
	db      *database
	redisNS string
	env     *tockEnv
	http    string // one replica's --listen, when asked for
}

func (d *deployment) close() {
	if d.proc != nil {
		d.proc.Stop(15 * time.Second)
	}
	if d.cluster != nil {
		_ = d.cluster.Close()
	}
	if d.store != nil && d.cluster == nil {
		_ = d.store.Close()
	}
	if d.db != nil {
		d.db.Close()
	}
	if d.redisNS != "" {
		_ = redisCleanup(d.env.redisAddr, d.redisNS)
	}
}

// startEmbedded runs `tock run` on SQLite with cfg.
func (e *tockEnv) startEmbedded(ctx context.Context, dir, cfg string, extra ...string) (*deployment, error) {
	listen, err := e2e.FreeAddr()
	if err != nil {
		return nil, err
	}
	dbURL := "sqlite:" + filepath.Join(dir, "tock.db")
	args := append([]string{"run", "-c", cfg, "--store", dbURL, "--workers", strconv.Itoa(e.workers),
		"--listen=" + listen, "--debug-pprof", "--log-format", "json", "--node", "bench-1"}, extra...)
	p, err := e2e.StartProc(e.bin, filepath.Join(dir, "tock.log"), args...)
	if err != nil {
		return nil, err
	}
	d := &deployment{name: "tock embedded", logs: []string{p.LogPath}, proc: p, env: e, http: listen}
	st, err := sqlite.Open(ctx, dbURL, sqlite.Options{})
	if err != nil {
		d.close()
		return nil, err
	}
	d.store = st
	return d, nil
}

// startDistributed runs three replicas on a private database and Redis
// prefix.
func (e *tockEnv) startDistributed(ctx context.Context, dir, cfg string, replicas int, extra ...string) (*deployment, error) {
	db, err := newDatabase(ctx, e.mysqlAddr, "tockbench")
	if err != nil {
		return nil, err
	}
	ns := "bench-" + randomSuffix()
	c, err := e2e.NewCluster(ctx, e2e.Options{
		Binary: e.bin, Dir: dir, Config: cfg, StoreURL: db.URL, RedisURL: "redis://" + e.redisAddr + "/0",
		Cluster: ns, Replicas: replicas, Workers: e.dworkers, LeaseTTL: 3 * time.Second, AttemptLease: 30 * time.Second,
		RequeueAfter: 10 * time.Second, ReapInterval: time.Second, ShutdownGrace: 10 * time.Second,
		Args: extra, HTTP: e.profileDir != "", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Info, as an operator runs it; the scenarios that read the
		// per-attempt debug lines pass --log-level debug in extra.
		LogLevel: "info",
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	d := &deployment{name: fmt.Sprintf("tock distributed ×%d", replicas), cluster: c, store: c.Store(), db: db, redisNS: ns, env: e}
	for i := 0; i < replicas; i++ {
		d.logs = append(d.logs, c.Replica(i).LogPath)
	}
	if err := c.StartAll(); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// waitLoaded waits until a replica logged "schedule loaded" after since.
func (d *deployment) waitLoaded(ctx context.Context, since time.Time, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		for _, l := range d.logs {
			if ev, ok, _ := e2e.FindLogEvent(l, e2e.MsgScheduleLoaded, since); ok {
				return ev.Time, nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s: no \"schedule loaded\" in its logs within %s", d.name, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// launch writes a config of n http jobs with schedule spec(i) into a new
// directory named after name, starts tock on it (three replicas when
// distributed, else embedded) and waits until its leader loaded the
// schedule; the caller closes the deployment.
func (e *tockEnv) launch(ctx context.Context, name string, n int, spec func(int) string, distributed bool, extra ...string) (*deployment, time.Time, error) {
	return e.launchWith(ctx, name, func(cfg string) error { return tockrun.WriteConfig(cfg, n, e.sink.URL, spec) }, distributed, 2*time.Minute, extra...)
}

// launchN is launch of three replicas with a wait of its own for the
// schedule (large configs).
func (e *tockEnv) launchN(ctx context.Context, name string, n int, spec func(int) string, wait time.Duration) (*deployment, time.Time, error) {
	return e.launchWith(ctx, name, func(cfg string) error { return tockrun.WriteConfig(cfg, n, e.sink.URL, spec) }, true, wait)
}

// launchWith is launch with the config written by write, waiting up to
// wait for the schedule.
func (e *tockEnv) launchWith(ctx context.Context, name string, write func(cfg string) error, distributed bool, wait time.Duration, extra ...string) (*deployment, time.Time, error) {
	dir, err := os.MkdirTemp(e.dir, name+"-")
	if err != nil {
		return nil, time.Time{}, err
	}
	cfg := filepath.Join(dir, "tock.yaml")
	if err := write(cfg); err != nil {
		return nil, time.Time{}, err
	}
	begin := time.Now()
	var d *deployment
	if distributed {
		d, err = e.startDistributed(ctx, dir, cfg, 3, extra...)
	} else {
		d, err = e.startEmbedded(ctx, dir, cfg, extra...)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	loaded, err := d.waitLoaded(ctx, begin, wait)
	if err != nil {
		d.close()
		return nil, time.Time{}, err
	}
	return d, loaded, nil
}

func everySecond(int) string { return "* * * * * *" }

func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}

func everySpec(period time.Duration) string {
	return fmt.Sprintf("*/%d * * * * *", int(period/time.Second))
}

// fireTock measures tock's fire latency with n http jobs due at the same
// instants, every period, over ticks ticks, twice: fair is the time from a
// run's scheduled instant to its request arriving at the sink (the peers'
// bodies are stamped the same way); overhead is the time to its worker
// handing it to the executor, as the worker logs it ("attempt started",
// fire_delay, a debug line).
func (e *tockEnv) fireTock(ctx context.Context, distributed bool, n int, period time.Duration, ticks int) (fair, overhead stats.Fire, err error) {
	spec := everySpec(period)
	// The overhead table reads the worker's "attempt started" lines, which
	// are debug lines.
	d, loaded, err := e.launch(ctx, fmt.Sprintf("fire-%d", n), n, func(int) string { return spec }, distributed, "--log-level", "debug")
	if err != nil {
		return fair, overhead, err
	}
	defer d.close()
	arrived := stats.NewTicks(period)
	e.sink.Track(arrived)
	defer e.sink.Track(nil)
	// Skip the first whole tick after the load: warm-up.
	from := loaded.Truncate(period).Add(2 * period)
	to := from.Add(time.Duration(ticks) * period)
	if err := sleepUntil(ctx, to.Add(period/2)); err != nil {
		return fair, overhead, err
	}
	want := n * ticks
	deadline := time.Now().Add(time.Minute)
	for {
		tk := stats.NewTicks(period)
		for _, l := range d.logs {
			err := e2e.ScanLogEvents(l, "", func(s e2e.LogEvent) bool {
				idx := tockrun.JobIndex(s.Job)
				if idx < 0 || s.Attempt != 1 {
					return true
				}
				sched := s.Time.Add(-s.FireDelay).Round(time.Second)
				tk.ObserveAt(idx, sched, sched.Add(s.FireDelay))
				return true
			}, e2e.MsgAttemptStarted)
			if err != nil {
				return fair, overhead, err
			}
		}
		overhead = tk.Result(d.name, n, from, to)
		fair = arrived.Result(d.name, n, from, to)
		if (len(overhead.Latencies) >= want && len(fair.Latencies) >= want) || time.Now().After(deadline) {
			break
		}
		if err := sleepUntil(ctx, time.Now().Add(time.Second)); err != nil {
			return fair, overhead, err
		}
	}
	fair.Persisted, overhead.Persisted = true, true
	// History: every tick of the window has its row, and it succeeded.
	ok, err := d.succeeded(ctx, from, to)
	if err != nil {
		return fair, overhead, err
	}
	fair.Note = fmt.Sprintf("history: %d/%d runs succeeded", ok, want)
	overhead.Note = "executor started (attempt started log line), real HTTP job"
	e.log("  %s n=%d: %d arrivals, p50 %s p99 %s max %s ms; executor started p50 %s p99 %s ms; history %d/%d succeeded", d.name, n, len(fair.Latencies),
		stats.Ms(stats.Quantile(fair.Latencies, 0.5)), stats.Ms(stats.Quantile(fair.Latencies, 0.99)), stats.Ms(stats.Max(fair.Latencies)),
		stats.Ms(stats.Quantile(overhead.Latencies, 0.5)), stats.Ms(stats.Quantile(overhead.Latencies, 0.99)), ok, want)
	return fair, overhead, nil
}

// commandTock measures command jobs on the embedded tock: n jobs running
// stamp (the same program its peers run), due together every period, over
// ticks ticks. The latency is from the scheduled instant to the job's
// process running, as the process stamps it.
func (e *tockEnv) commandTock(ctx context.Context, n int, period time.Duration, ticks int, stampBin string) (stats.Fire, error) {
	spec := everySpec(period)
	stampFile := filepath.Join(e.dir, fmt.Sprintf("stamps-tock-%d", n))
	argv := func(i int) []string { return []string{stampBin, stampFile, tockrun.JobName(i)} }
	d, loaded, err := e.launchWith(ctx, fmt.Sprintf("command-%d", n), func(cfg string) error {
		return tockrun.WriteCommandConfig(cfg, n, argv, func(int) string { return spec })
	}, false, 2*time.Minute)
	if err != nil {
		return stats.Fire{}, err
	}
	defer d.close()
	d.name = "tock embedded, command jobs"
	from := loaded.Truncate(period).Add(2 * period)
	to := from.Add(time.Duration(ticks) * period)
	if err := sleepUntil(ctx, to.Add(period/2)); err != nil {
		return stats.Fire{}, err
	}
	seen := stats.NewTicks(period)
	if err := stats.ReadStamps(stampFile, tockrun.JobIndex, seen); err != nil {
		return stats.Fire{}, err
	}
	res := seen.Result(d.name, n, from, to)
	res.Persisted = true
	ok, err := d.succeeded(ctx, from, to)
	if err != nil {
		return res, err
	}
	res.Note = fmt.Sprintf("history: %d/%d runs succeeded", ok, n*ticks)
	return res, nil
}

// succeeded counts the benchmark jobs' runs scheduled in [from, to) whose
// history says succeeded.
func (d *deployment) succeeded(ctx context.Context, from, to time.Time) (int, error) {
	rows, err := e2e.ListWindow(ctx, d.store, from, to)
	if err != nil {
		return 0, err
	}
	ok := 0
	for _, r := range rows {
		if r.Status == jobs.StatusSucceeded && tockrun.JobIndex(r.Job) >= 0 {
			ok++
		}
	}
	return ok, nil
}

// throughput is the outcome of the sustained-throughput scenario.
type throughput struct {
	Offered    int // runs due per second
	Duration   time.Duration
	Committed  float64 // runs finished (history committed) per second
	Delivered  float64 // HTTP requests the sink answered per second
	BacklogEnd int64   // runs queued or running at the end
	LagP50     time.Duration
	LagP99     time.Duration
	Ceiling    float64 // MariaDB multi-row INSERT rows/s, same run
	// Per committed run over the window: MariaDB's CPU (the mariadbd
	// process), the replicas' CPU together, and the server's row changes
	// (Handler_write + Handler_update + Handler_delete, every table).
	DBCPUPerRun   time.Duration
	TockCPUPerRun time.Duration
	RowsPerRun    float64
	// CeilingCPUPerRow is MariaDB's CPU per row of its own ceiling.
	CeilingCPUPerRow time.Duration
	Replicas         int
	Workers          int
}

// throughputTock offers jobs runs a second (jobs jobs every second) to three
// replicas for dur after warm, and counts what ends in history.
func (e *tockEnv) throughputTock(ctx context.Context, jobsN int, warm, dur time.Duration) (throughput, error) {
	out := throughput{Offered: jobsN, Duration: dur, Replicas: 3, Workers: e.dworkers}
	var extra []string
	if e.profileDir != "" {
		extra = append(extra, "--debug-pprof")
	}
	d, loaded, err := e.launch(ctx, "throughput", jobsN, everySecond, true, extra...)
	if err != nil {
		return out, err
	}
	defer d.close()
	t0 := loaded.Add(warm)
	if e.profileDir != "" {
		// One replica's CPU profile from the middle of the measurement.
		addr := d.cluster.Replica(0).HTTPAddr()
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() {
			if sleepUntil(ctx, t0.Add(dur/3)) != nil {
				return
			}
			path := filepath.Join(e.profileDir, "throughput-node-1.cpu.pprof")
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=10", addr)
			if err := tockrun.Save(ctx, url, path); err != nil {
				e.log("  profile: %v", err)
				return
			}
			e.log("  wrote %s", path)
		})
	}
	if err := sleepUntil(ctx, t0); err != nil {
		return out, err
	}
	finished := func() (int64, error) {
		return d.db.count(ctx, "SELECT COUNT(*) FROM runs WHERE finished_at IS NOT NULL")
	}
	f0, err := finished()
	if err != nil {
		return out, err
	}
	h0 := e.sink.Hits.Load()
	dbPids := tockrun.PidsByName("mariadbd", "mysqld")
	var tockPids []int
	for i := 0; i < d.cluster.Len(); i++ {
		tockPids = append(tockPids, d.cluster.Replica(i).Pid())
	}
	db0, tock0 := tockrun.CPUTimes(dbPids), tockrun.CPUTimes(tockPids)
	rows0, err := d.db.rowChanges(ctx)
	if err != nil {
		return out, err
	}
	start := time.Now()
	if err := sleepUntil(ctx, t0.Add(dur)); err != nil {
		return out, err
	}
	f1, err := finished()
	if err != nil {
		return out, err
	}
	h1 := e.sink.Hits.Load()
	db1, tock1 := tockrun.CPUTimes(dbPids), tockrun.CPUTimes(tockPids)
	rows1, err := d.db.rowChanges(ctx)
	if err != nil {
		return out, err
	}
	el := time.Since(start)
	if n := f1 - f0; n > 0 {
		out.DBCPUPerRun = (db1 - db0) / time.Duration(n)
		out.TockCPUPerRun = (tock1 - tock0) / time.Duration(n)
		out.RowsPerRun = float64(rows1-rows0) / float64(n)
	}
	if len(dbPids) == 0 {
		e.log("  no mariadbd process found: MariaDB CPU per run not measured")
		out.DBCPUPerRun = -1
	}
	out.Committed = float64(f1-f0) / el.Seconds()
	out.Delivered = float64(h1-h0) / el.Seconds()
	out.BacklogEnd, _ = d.db.count(ctx, "SELECT COUNT(*) FROM runs WHERE status IN ('queued','running') AND scheduled_at <= UTC_TIMESTAMP(6)")
	// Start lag of the window's runs, from history.
	rows, err := d.db.DB.QueryContext(ctx, "SELECT TIMESTAMPDIFF(MICROSECOND, scheduled_at, started_at) FROM runs "+
		"WHERE scheduled_at >= ? AND scheduled_at < ? AND started_at IS NOT NULL", t0.UTC(), t0.Add(dur).UTC())
	if err != nil {
		return out, err
	}
	var lags []time.Duration
	for rows.Next() {
		var us int64
		if err := rows.Scan(&us); err != nil {
			rows.Close()
			return out, err
		}
		lags = append(lags, time.Duration(us)*time.Microsecond)
	}
	rows.Close()
	out.LagP50, out.LagP99 = stats.Quantile(lags, 0.5), stats.Quantile(lags, 0.99)
	e.log("  throughput: offered %d/s, committed %.0f/s, delivered %.0f/s, backlog %d, start lag p50 %s p99 %s; per run: MariaDB CPU %s, tock CPU %s, %.2f row changes",
		jobsN, out.Committed, out.Delivered, out.BacklogEnd, out.LagP50, out.LagP99, out.DBCPUPerRun, out.TockCPUPerRun, out.RowsPerRun)
	// Stop tock before measuring the database's own ceiling.
	if d.cluster != nil {
		_ = d.cluster.Close()
		d.cluster = nil
	}
	out.Ceiling, out.CeilingCPUPerRow, err = d.db.ceiling(ctx, 8, 500, 10*time.Second, dbPids)
	if err != nil {
		return out, err
	}
	if len(dbPids) == 0 {
		out.CeilingCPUPerRow = -1
	}
	e.log("  MariaDB multi-row INSERT ceiling: %.0f rows/s, MariaDB CPU %s per row", out.Ceiling, out.CeilingCPUPerRow)
	return out, nil
}

// scaleTock loads n jobs spread over an hour into an embedded tock and
// measures its CPU, heap per job, load and reload time.
func (e *tockEnv) scaleTock(ctx context.Context, n int, measure time.Duration) (stats.Scale, error) {
	res := stats.Scale{System: "tock embedded", Jobs: n}
	dir, err := os.MkdirTemp(e.dir, fmt.Sprintf("scale-%d-", n))
	if err != nil {
		return res, err
	}
	cfg := filepath.Join(dir, "tock.yaml")
	spec := func(i int) string {
		sec := i * 3600 / n
		return fmt.Sprintf("%d %d * * * *", sec%60, sec/60)
	}
	// Baseline: the same process with one job, for the heap it needs anyway.
	base := filepath.Join(dir, "base.yaml")
	if err := tockrun.WriteConfig(base, 1, e.sink.URL, spec); err != nil {
		return res, err
	}
	baseHeap, err := e.heapOf(ctx, dir, base)
	if err != nil {
		return res, err
	}
	if err := tockrun.WriteConfig(cfg, n, e.sink.URL, spec); err != nil {
		return res, err
	}
	begin := time.Now()
	d, err := e.startEmbedded(ctx, dir, cfg)
	if err != nil {
		return res, err
	}
	defer d.close()
	loaded, err := d.waitLoaded(ctx, begin, 10*time.Minute)
	if err != nil {
		return res, err
	}
	res.Load = loaded.Sub(begin)
	// Let the first dispatches settle, then measure.
	if err := sleepUntil(ctx, time.Now().Add(3*time.Second)); err != nil {
		return res, err
	}
	pid := d.proc.Pid()
	c0, err := tockrun.CPUTime(pid)
	if err != nil {
		return res, err
	}
	h0 := e.sink.Hits.Load()
	w0 := time.Now()
	if err := sleepUntil(ctx, w0.Add(measure)); err != nil {
		return res, err
	}
	c1, err := tockrun.CPUTime(pid)
	if err != nil {
		return res, err
	}
	el := time.Since(w0)
	res.CPUFraction = (c1 - c0).Seconds() / el.Seconds()
	res.FiredPerSec = float64(e.sink.Hits.Load()-h0) / el.Seconds()
	heap, err := heapAfterGC(ctx, d.http)
	if err != nil {
		return res, err
	}
	res.HeapPerJob = (heap - baseHeap) / float64(n)
	if res.RSS, res.PeakRSS, err = tockrun.RSS(pid); err != nil {
		return res, err
	}
	// Reload: a changed file (one job more) moved into place, which the
	// file watcher sees, and a SIGHUP, until the leader has rebuilt its
	// schedule.
	next := filepath.Join(dir, "next.yaml")
	if err := tockrun.WriteConfig(next, n+1, e.sink.URL, func(i int) string { return spec(i % n) }); err != nil {
		return res, err
	}
	hup := time.Now()
	if err := os.Rename(next, cfg); err != nil {
		return res, err
	}
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	ev, err := e2e.WaitLogEvent(wctx, d.logs[0], e2e.MsgScheduleLoaded, hup, `"term_start":false`)
	if err != nil {
		return res, err
	}
	res.Reload = ev.Time.Sub(hup)
	after, err := heapAfterGC(ctx, d.http)
	if err != nil {
		return res, err
	}
	res.ReloadGrowth = after / heap
	res.Note = fmt.Sprintf("whole process: scheduling, dispatch with SQLite history, %0.f HTTP runs/s", res.FiredPerSec)
	e.log("  tock scale n=%d: load %s, reload %s, cpu %.3f, heap/job %.0f B (baseline heap %.1f MiB), RSS %.0f MiB (peak %.0f), heap after reload ×%.2f, %.0f runs/s",
		n, res.Load.Round(time.Millisecond), res.Reload.Round(time.Millisecond), res.CPUFraction, res.HeapPerJob, baseHeap/(1<<20),
		res.RSS/(1<<20), res.PeakRSS/(1<<20), res.ReloadGrowth, res.FiredPerSec)
	return res, nil
}

// heapOf starts an embedded tock with cfg and returns its live heap.
func (e *tockEnv) heapOf(ctx context.Context, parent, cfg string) (float64, error) {
	dir, err := os.MkdirTemp(parent, "base-")
	if err != nil {
		return 0, err
	}
	begin := time.Now()
	d, err := e.startEmbedded(ctx, dir, cfg)
	if err != nil {
		return 0, err
	}
	defer d.close()
	if _, err := d.waitLoaded(ctx, begin, time.Minute); err != nil {
		return 0, err
	}
	if err := sleepUntil(ctx, time.Now().Add(2*time.Second)); err != nil {
		return 0, err
	}
	return heapAfterGC(ctx, d.http)
}

// heapAfterGC forces a collection through pprof and reads the live heap.
func heapAfterGC(ctx context.Context, addr string) (float64, error) {
	var vals []float64
	for i := 0; i < 3; i++ {
		if err := tockrun.Get(ctx, "http://"+addr+"/debug/pprof/heap?gc=1"); err != nil {
			return 0, err
		}
		v, err := tockrun.Metric(ctx, "http://"+addr+"/metrics", "go_memstats_heap_alloc_bytes")
		if err != nil {
			return 0, err
		}
		vals = append(vals, v)
	}
	return slices.Min(vals), nil
}
