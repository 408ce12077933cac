// Command tockbench measures tock beside its peers on one machine, in one
// run: fire latency, sustained throughput, schedule scale and failover. It
// prints the results as one markdown table and writes it to -out.
//
//	cd bench && go run ./cmd/tockbench -out results.md
//
// It needs the services of tock's test command: MariaDB (root without a
// password) and Redis on loopback.
package main

import (
	"context"
	"net/http"

	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tock-sched/tock/bench/peers"
	"github.com/tock-sched/tock/bench/stats"
	"github.com/tock-sched/tock/bench/tockrun"
	"github.com/tock-sched/tock/internal/e2e"
)

type options struct {
	root       string
	out        string
	only       map[string]bool
	sizes      []int
	cmdSizes   []int
	peerSizes  []int
	period     time.Duration
	ticks      int
	tputJobs   int
	tputWarm   time.Duration
	tputDur    time.Duration
	scaleSizes []int
	scaleFor   time.Duration
	rounds     int
	foSizes    []int
	foRounds   int
	mysql      string
	redis      string
	asynqDB    int
	workers    int
	dworkers   int
	keep       bool
	profileDir string
	// trace runs each fire scenario of tock twice: tracing off, then on;
	// traceRounds times, alternating.
	trace       bool
	traceRounds int
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(strings.ToLower(f), "k", "000"))
		f = strings.ReplaceAll(f, "m", "000000")
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive size", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	var o options
	var only, sizes, peerSizes, scaleSizes, cmdSizes, foSizes string
	flag.StringVar(&o.root, "root", "..", "tock's repository (the bench module's parent)")
	flag.StringVar(&o.out, "out", "results.md", "file the markdown table is written to")
	flag.StringVar(&only, "only", "fire,peers,command,throughput,scale,failover,failoverscale", "scenarios to run, comma-separated: fire (tock), peers (their fire latency), command (command jobs, tock and robfig/cron), throughput, scale, failover, failoverscale (kill -9 failover with many jobs)")
	flag.StringVar(&sizes, "sizes", "1k,10k", "fire latency: jobs due in the same second (tock)")
	flag.StringVar(&cmdSizes, "command-sizes", "300,1000", "command jobs: jobs due in the same second")
	flag.StringVar(&peerSizes, "peer-sizes", "", "fire latency: sizes for the peers (default -sizes)")
	flag.DurationVar(&o.period, "period", 5*time.Second, "fire latency: the jobs' period (whole seconds dividing 60)")
	flag.IntVar(&o.ticks, "ticks", 3, "fire latency: ticks measured per scenario")
	flag.IntVar(&o.tputJobs, "throughput-jobs", 10000, "throughput: jobs firing every second (the offered runs/s)")
	flag.DurationVar(&o.tputWarm, "throughput-warmup", 15*time.Second, "throughput: warm-up before measuring")
	flag.DurationVar(&o.tputDur, "throughput-duration", 60*time.Second, "throughput: measured time")
	flag.StringVar(&scaleSizes, "scale", "1k,100k,1m", "schedule scale: job counts")
	flag.DurationVar(&o.scaleFor, "scale-measure", 30*time.Second, "schedule scale: CPU measured over this long")
	flag.IntVar(&o.rounds, "failovers", 10, "failover: kill -9 rounds and SIGTERM rounds (each)")
	flag.StringVar(&foSizes, "failover-sizes", "1k,100k", "failoverscale: job counts (20 every second, the rest spread over an hour)")
	flag.IntVar(&o.foRounds, "failover-scale-rounds", 3, "failoverscale: kill -9 rounds per job count")
	flag.StringVar(&o.mysql, "mysql", envOr("TOCK_TEST_MYSQL_ADDR", "127.0.0.1:3306"), "MariaDB host:port (root, no password)")
	flag.StringVar(&o.redis, "redis", envOr("TOCK_TEST_REDIS_ADDR", "127.0.0.1:6379"), "Redis host:port")
	flag.IntVar(&o.asynqDB, "asynq-db", 9, "Redis database asynq uses (flushed)")
	flag.IntVar(&o.workers, "workers", 12000, "--workers of the embedded tock (slots are held by runs claimed ahead: at least the jobs due together)")
	flag.IntVar(&o.dworkers, "dworkers", 4000, "--workers of each distributed tock replica")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, configs)")
	flag.IntVar(&o.traceRounds, "trace-rounds", 1, "fire latency with -trace: rounds of (tracing off, tracing on), alternating")
	flag.BoolVar(&o.trace, "trace", false, "fire latency: run each tock scenario twice, tracing off and tracing on (every span exported over OTLP/HTTP to an in-process receiver)")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write a CPU profile of one replica during the throughput run here")
	flag.Parse()
	var err error
	o.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		o.only[strings.TrimSpace(s)] = true
	}
	if o.sizes, err = parseInts(sizes); err == nil {
		if peerSizes == "" {
			peerSizes = sizes
		}
		if o.peerSizes, err = parseInts(peerSizes); err == nil {
			if o.scaleSizes, err = parseInts(scaleSizes); err == nil {
				if o.cmdSizes, err = parseInts(cmdSizes); err == nil {
					o.foSizes, err = parseInts(foSizes)
				}
			}
		}
	}
	if err == nil && (o.period < time.Second || o.period%time.Second != 0 || 60%int(o.period/time.Second) != 0) {
		err = fmt.Errorf("-period %s: want whole seconds dividing 60", o.period)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tockbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "tockbench:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o options) error {
	began := time.Now()
	dir, err := os.MkdirTemp("", "tockbench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("work directory %s (kept)", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return err
	}
	logf("building tock from %s", root)
	bin, err := e2e.BuildTockWith(ctx, dir, e2e.BuildOptions{Root: root})
	if err != nil {
		return err
	}
	sink, err := tockrun.StartSink()
	if err != nil {
		return err
	}
	defer sink.Close()
	env := &tockEnv{bin: bin, dir: dir, mysqlAddr: o.mysql, redisAddr: o.redis, sink: sink,
		workers: o.workers, dworkers: o.dworkers, log: logf, profileDir: o.profileDir}
	rep := &report{opts: o}

	if o.only["fire"] {
		for _, n := range o.sizes {
			for _, dist := range []bool{false, true} {
				for _, tr := range traceModes(o.trace, o.traceRounds) {
					logf("fire latency: tock (distributed %v%s), %d jobs every %s", dist, tr.label, n, o.period)
					f, overhead, err := env.fireTraced(ctx, tr, dist, n, o.period, o.ticks)
					if err != nil {
						return fmt.Errorf("fire latency of tock, %d jobs%s: %w", n, tr.label, err)
					}
					rep.fire = append(rep.fire, f)
					rep.overhead = append(rep.overhead, overhead)
					logFire(f)
				}
			}
		}
	}
	if o.only["peers"] {
		// The same body as tock's http jobs: a GET of /NAME on the sink
		// through a keep-alive client with an idle pool sized to the burst,
		// as tock's, stamped on arrival; then the no-op body, for the
		// scheduler's overhead.
		client := &http.Client{Transport: peerTransport()}
		defer client.CloseIdleConnections()
		for _, n := range o.peerSizes {
			for _, fair := range []bool{true, false} {
				body := func() peers.Body {
					if !fair {
						return peers.Body{}
					}
					seen := stats.NewTicks(o.period)
					sink.Track(seen)
					return peers.HTTPBody(client, sink.JobURL, seen)
				}
				add := func(f stats.Fire) {
					sink.Track(nil)
					// Each peer starts with an empty pool: the sink's ends
					// of the last peer's connections are in this process
					// too, and two 10k pools would pass its file limit.
					client.CloseIdleConnections()
					if fair {
						rep.fire = append(rep.fire, f)
					} else {
						rep.overhead = append(rep.overhead, f)
					}
					logFire(f)
				}
				logf("fire latency: robfig/cron runner, %d entries (HTTP body %v)", n, fair)
				f, err := peers.Robfig(ctx, n, o.period, o.ticks, body())
				if err != nil {
					return err
				}
				add(f)
				logf("fire latency: gocron ×3 with a Redis lock, %d jobs (HTTP body %v)", n, fair)
				f, err = peers.Gocron(ctx, n, 3, o.period, o.ticks, o.redis, "bench:gocron:"+randomSuffix()+":", body())
				if err != nil {
					return err
				}
				add(f)
				for _, s := range []int{1, 3} {
					logf("fire latency: asynq, %d scheduler(s), %d tasks (HTTP body %v)", s, n, fair)
					f, err = peers.Asynq(ctx, n, s, o.period, o.ticks, o.redis, o.asynqDB, body())
					if err != nil {
						return err
					}
					add(f)
				}
			}
		}
	}
	if o.only["command"] {
		stampBin, err := tockrun.BuildStamp(ctx, filepath.Join(root, "bench"), dir)
		if err != nil {
			return err
		}
		for _, n := range o.cmdSizes {
			logf("command jobs: tock embedded, %d jobs every %s", n, o.period)
			f, err := env.commandTock(ctx, n, o.period, o.ticks, stampBin)
			if err != nil {
				return fmt.Errorf("command jobs of tock, %d jobs: %w", n, err)
			}
			rep.command = append(rep.command, f)
			logFire(f)
			logf("command jobs: robfig/cron runner exec, %d entries", n)
			stampFile := filepath.Join(dir, fmt.Sprintf("stamps-robfig-%d", n))
			f, err = peers.RobfigExec(ctx, n, o.period, o.ticks,
				func(i int) []string { return []string{stampBin, stampFile, tockrun.JobName(i)} }, stampFile, tockrun.JobIndex)
			if err != nil {
				return err
			}
			rep.command = append(rep.command, f)
			logFire(f)
		}
	}
	if o.only["throughput"] {
		logf("throughput: %d jobs every second on 3 replicas for %s", o.tputJobs, o.tputDur)
		t, err := env.throughputTock(ctx, o.tputJobs, o.tputWarm, o.tputDur)
		if err != nil {
			return fmt.Errorf("throughput: %w", err)
		}
		rep.tput = &t
	}
	if o.only["scale"] {
		for _, n := range o.scaleSizes {
			logf("schedule scale: tock, %d jobs over an hour", n)
			s, err := env.scaleTock(ctx, n, o.scaleFor)
			if err != nil {
				return fmt.Errorf("schedule scale of tock, %d jobs: %w", n, err)
			}
			rep.scale = append(rep.scale, s)
			logf("schedule scale: robfig/cron runner, %d entries over an hour", n)
			s, err = peers.RobfigScale(ctx, n, time.Hour, o.scaleFor)
			if err != nil {
				return err
			}
			rep.scale = append(rep.scale, s)
			runtime.GC()
		}
	}
	if o.only["failover"] {
		logf("failover: %d × kill -9 and %d × SIGTERM of the leader of 3 replicas", o.rounds, o.rounds)
		f, err := env.failoverTock(ctx, 20, o.rounds, true)
		if err != nil {
			return fmt.Errorf("failover: %w", err)
		}
		rep.failover = &f
	}
	if o.only["failoverscale"] {
		for _, n := range o.foSizes {
			logf("failover at scale: %d × kill -9 of the leader of 3 replicas, %d jobs", o.foRounds, n)
			f, err := env.failoverTock(ctx, n, o.foRounds, false)
			if err != nil {
				return fmt.Errorf("failover at scale, %d jobs: %w", n, err)
			}
			rep.foScale = append(rep.foScale, f)
		}
	}
	rep.took = time.Since(began)
	var b strings.Builder
	rep.write(&b)
	fmt.Print(b.String())
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(b.String()), 0o644); err != nil {
			return err
		}
		logf("wrote %s", o.out)
	}
	return nil
}

func logFire(f stats.Fire) {
	logf("  %s n=%d: p50 %s p99 %s max %s ms, %d runs, %d duplicates, %d missing", f.System, f.N,
		stats.Ms(stats.Quantile(f.Latencies, 0.5)), stats.Ms(stats.Quantile(f.Latencies, 0.99)), stats.Ms(stats.Max(f.Latencies)),
		len(f.Latencies), f.Duplicates, f.Missing)
}

type report struct {
	opts     options
	fire     []stats.Fire
	overhead []stats.Fire // the same scenarios measured inside the scheduler, no-op bodies for the peers
	command  []stats.Fire
	tput     *throughput
	scale    []stats.Scale
	failover *failover
	foScale  []failover
	took     time.Duration
}

func (r *report) write(w io.Writer) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "## Results (%s, %d CPUs, %s, took %s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		runtime.NumCPU(), runtime.Version(), r.took.Round(time.Second))
	_ = host
	if len(r.fire) > 0 {
		fmt.Fprintf(w, "### Fire latency (scheduled instant → the job's HTTP GET arriving at the sink), %d ticks of jobs every %s\n\n", r.opts.ticks, r.opts.period)
		fmt.Fprintln(w, "Every system runs the same body: an HTTP GET of /NAME on one keep-alive no-op server, which stamps the arrival (tock's http jobs; the peers through a keep-alive client whose idle pool holds the whole burst, as tock's workers' does).")
		fmt.Fprintln(w)
		writeFire(w, r.fire)
	}
	if len(r.overhead) > 0 {
		fmt.Fprintf(w, "### Scheduler overhead (scheduled instant → the scheduler calling the job; the peers with a no-op body), %d ticks of jobs every %s\n\n", r.opts.ticks, r.opts.period)
		fmt.Fprintln(w, "Not a comparison of like with like: tock's rows are its executor starting a real HTTP job (its \"attempt started\" log line, a debug line the fire scenario turns on), the peers' a job function that only records the time.")
		fmt.Fprintln(w)
		writeFire(w, r.overhead)
	}
	if len(r.command) > 0 {
		fmt.Fprintf(w, "### Command jobs (scheduled instant → the job's process running, stamped by the process), %d ticks of jobs every %s\n\n", r.opts.ticks, r.opts.period)
		fmt.Fprintln(w, "Every system runs the same program (bench/cmd/stamp) as the job; *starts/s* is the jobs due together over the p99 latency.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| system | jobs due together | history | p50 ms | p99 ms | max ms | starts/s | runs | duplicates | missing | note |")
		fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
		for _, f := range r.command {
			hist := "none"
			if f.Persisted {
				hist = "persisted"
			}
			l := f.Latencies
			p99 := stats.Quantile(l, 0.99)
			rate := 0.0
			if p99 > 0 {
				rate = float64(f.N) / p99.Seconds()
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %.0f | %d | %d | %d | %s |\n", f.System, f.N, hist,
				stats.Ms(stats.Quantile(l, 0.5)), stats.Ms(p99), stats.Ms(stats.Max(l)), rate,
				len(l), f.Duplicates, f.Missing, f.Note)
		}
		fmt.Fprintln(w)
	}
	if t := r.tput; t != nil {
		fmt.Fprintf(w, "### Throughput (distributed, %d replicas × %d workers, no-op HTTP job, history committed)\n\n", t.Replicas, t.Workers)
		fmt.Fprintln(w, "| offered runs/s | committed runs/s | HTTP calls/s | backlog at end | start lag p50 | start lag p99 | MariaDB CPU µs/run | tock CPU µs/run (3 replicas) | row changes/run | MariaDB multi-row INSERT rows/s | its MariaDB CPU µs/row | tock ÷ ceiling |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		us := func(d time.Duration) string {
			if d < 0 {
				return "—"
			}
			return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond))
		}
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %d | %s | %s | %s | %s | %.2f | %.0f | %s | %.2f |\n\n", t.Offered, t.Committed, t.Delivered, t.BacklogEnd,
			t.LagP50.Round(time.Millisecond), t.LagP99.Round(time.Millisecond), us(t.DBCPUPerRun), us(t.TockCPUPerRun),
			t.RowsPerRun, t.Ceiling, us(t.CeilingCPUPerRow), t.Committed/t.Ceiling)
		fmt.Fprintf(w, "Measured over %s after a %s warm-up.\n\n", t.Duration, r.opts.tputWarm)
	}
	if len(r.scale) > 0 {
		fmt.Fprintf(w, "### Schedule scale (jobs spread over an hour, measured %s)\n\n", r.opts.scaleFor)
		fmt.Fprintln(w, "| system | jobs | CPU (cores) | heap bytes/job | RSS MiB | peak RSS MiB | load | reload | live heap after reload ÷ before | runs/s | note |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
		dash := func(v float64, format string) string {
			if v == 0 {
				return "—"
			}
			return fmt.Sprintf(format, v)
		}
		for _, s := range r.scale {
			reload := "—"
			if s.Reload > 0 {
				reload = s.Reload.Round(time.Millisecond).String()
			}
			fmt.Fprintf(w, "| %s | %d | %.3f | %.0f | %s | %s | %s | %s | %s | %.0f | %s |\n", s.System, s.Jobs, s.CPUFraction, s.HeapPerJob,
				dash(s.RSS/(1<<20), "%.0f"), dash(s.PeakRSS/(1<<20), "%.0f"), s.Load.Round(time.Millisecond), reload,
				dash(s.ReloadGrowth, "%.2f"), s.FiredPerSec, s.Note)
		}
		fmt.Fprintln(w)
	}
	if f := r.failover; f != nil {
		fmt.Fprintf(w, "### Failover (3 replicas, --lease-ttl %s, 20 jobs every second)\n\n", f.LeaseTTL)
		fmt.Fprintln(w, "| fault | n | dispatch gap median | max | first tick late median | max | hand-over (signal → elected) median | max |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
		rd := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
		fmt.Fprintf(w, "| kill -9 of the leader | %d | %s | %s | %s | %s | — | — |\n", len(f.Kill),
			rd(stats.Median(f.Kill)), rd(stats.Max(f.Kill)), rd(stats.Median(f.KillLate)), rd(stats.Max(f.KillLate)))
		fmt.Fprintf(w, "| SIGTERM of the leader | %d | %s | %s | %s | %s | %s | %s |\n\n", len(f.Term),
			rd(stats.Median(f.Term)), rd(stats.Max(f.Term)), rd(stats.Median(f.TermLate)), rd(stats.Max(f.TermLate)),
			rd(stats.Median(f.TermHandover)), rd(stats.Max(f.TermHandover)))
		fmt.Fprintf(w, "Audit of the whole window: %d ticks, %d lost (silently missing), %d duplicates, %d stuck.\n\n",
			f.Ticks, f.Lost, f.Duplicates, f.Stuck)
	}
	if len(r.foScale) > 0 {
		fmt.Fprintf(w, "### Failover at scale (kill -9 of the leader, 3 replicas, --lease-ttl %s; 20 jobs every second, the rest spread over an hour)\n\n", r.foScale[0].LeaseTTL)
		fmt.Fprintln(w, "| jobs | n | kill → new leader's first row median | max | dispatch gap median | max | first tick late median | term starts warm / cold | ticks audited | lost | duplicates | stuck |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
		rd := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
		for _, f := range r.foScale {
			fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s | %d / %d | %d | %d | %d | %d |\n", f.Jobs, len(f.Kill),
				rd(stats.Median(f.KillToFirst)), rd(stats.Max(f.KillToFirst)), rd(stats.Median(f.Kill)), rd(stats.Max(f.Kill)),
				rd(stats.Median(f.KillLate)), f.Warm, f.Cold, f.Ticks, f.Lost, f.Duplicates, f.Stuck)
		}
		fmt.Fprintln(w)
	}
}

// writeFire writes one fire-latency table.
func writeFire(w io.Writer, fires []stats.Fire) {
	fmt.Fprintln(w, "| system | jobs due together | history | p50 ms | p99 ms | max ms | runs | duplicates | missing | note |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
	for _, f := range fires {
		hist := "none"
		if f.Persisted {
			hist = "persisted"
		}
		l := f.Latencies
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %d | %d | %d | %s |\n", f.System, f.N, hist,
			stats.Ms(stats.Quantile(l, 0.5)), stats.Ms(stats.Quantile(l, 0.99)), stats.Ms(stats.Max(l)),
			len(l), f.Duplicates, f.Missing, f.Note)
	}
	fmt.Fprintln(w)
}

// peerTransport is the peers' HTTP transport: Go's default keeping as many
// idle connections per host as the largest burst, as tock's workers do
// (jobs/executor.NewHTTPClient sized to --workers, here 12,000 and 4,000).
func peerTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * peerIdlePerHost
	t.MaxIdleConnsPerHost = peerIdlePerHost
	// Both ends of every connection are in this process (the sink is
	// in-process): 8,000 connections are 16,000 descriptors, under the
	// 20,000 files a process may open here. A peer's burst beyond it waits
	// for a connection, as tock's replicas would at their own limit.
	t.MaxConnsPerHost = peerMaxConns
	return t
}

// peerMaxConns caps the peers' connections to the sink (see peerTransport).
const peerMaxConns = 8000

// peerIdlePerHost is the peers' idle pool per host: the embedded tock's
// --workers.
const peerIdlePerHost = 12000
