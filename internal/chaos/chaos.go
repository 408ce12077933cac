package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tock-sched/tock/internal/e2e"
)

// Defaults of Options.
const (
	DefaultDuration = 10 * time.Minute
	DefaultReplicas = 3
	DefaultJobs     = 20
)

const (
	// minPause and maxPause bound the quiet time between two faults.
	minPause = 3 * time.Second
	maxPause = 10 * time.Second
	// minDown and maxDown bound how long a stopped replica or service
	// stays down.
	minDown = 2 * time.Second
	maxDown = 8 * time.Second
	// failoverWait bounds how long a failover is waited for.
	failoverWait = time.Minute
	// settleWait bounds how long the last runs may take to finish after
	// the faults stopped.
	settleWait = 3 * time.Minute
	// faultOffset is where in a second faults land: long after that
	// second's dispatch, long before the next one's.
	faultOffset = 300 * time.Millisecond
)

// Options configure a chaos run.
type Options struct {
	// Duration is how long faults are injected. Default 10m.
	Duration time.Duration
	// Seed seeds the fault sequence; 0 picks one from the clock (it is
	// printed, so a run can be repeated).
	Seed uint64
	// Replicas is the number of tock replicas. Default 3.
	Replicas int
	// Jobs is the number of jobs, each firing every second. Default 20.
	Jobs int
	// Tock is the tock binary; empty builds ./cmd/tock.
	Tock string
	// Dir holds the logs, the config and the private servers' data; empty
	// uses a temporary directory, removed after a clean run.
	Dir string
	// NoMariaDBRestarts leaves the private MariaDB running throughout.
	NoMariaDBRestarts bool
	// Progress receives one line per fault. Default discards.
	Progress io.Writer
}

// Result is what a chaos run measured.
type Result struct {
	Seed     uint64
	Duration time.Duration
	Replicas int
	Dir      string
	// Audit is the history audit of the whole fault window.
	Audit e2e.Report
	// Faults counts the faults injected, by kind.
	Faults map[string]int
	// FirstEpoch and LastEpoch are the leader epochs at the start and the
	// end; their difference is the number of leadership terms begun, i.e.
	// failovers (a leader re-elected after Redis or MariaDB came back
	// counts too: it is a new fenced term).
	FirstEpoch, LastEpoch int64
	// KillFailovers and TermFailovers are, for each kill -9 and each SIGTERM
	// of the leader while another replica ran, the time from the signal to
	// the first schedule or catch-up row written after it (by the new
	// leader). After a kill -9 this includes waiting out the lease TTL.
	KillFailovers []time.Duration
	TermFailovers []time.Duration
	// FailoverTimeouts counts leader faults after which nothing was
	// dispatched within failoverWait.
	FailoverTimeouts int
	// SelfExits counts replicas that exited without being stopped (and
	// were started again a second later).
	SelfExits int
	// UncleanStops counts SIGTERMs after which a replica exited non-zero
	// or had to be killed.
	UncleanStops int
}

// Failovers is the number of leadership terms begun during the run.
func (r *Result) Failovers() int64 { return r.LastEpoch - r.FirstEpoch }

// OK reports whether the audit found no duplicate, no silently missing
// tick, no off-schedule row and nothing stuck.
func (r *Result) OK() bool { return r.Audit.Clean() }

// Print writes the figures.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "tock chaos: %s, seed %d, %d replicas, %d jobs every second\n", r.Duration, r.Seed, r.Replicas, r.Audit.Jobs)
	faults := make([]string, 0, len(r.Faults))
	for k, n := range r.Faults {
		faults = append(faults, fmt.Sprintf("%s=%d", k, n))
	}
	slices.Sort(faults)
	fmt.Fprintf(w, "faults                  %s\n", strings.Join(faults, " "))
	fmt.Fprintf(w, "ticks expected          %d\n", r.Audit.TicksExpected)
	fmt.Fprintf(w, "runs                    %d\n", r.Audit.Runs)
	fmt.Fprintf(w, "duplicates              %d\n", r.Audit.Duplicates)
	fmt.Fprintf(w, "missed (recorded)       %d\n", r.Audit.Missed)
	fmt.Fprintf(w, "silently missing        %d\n", r.Audit.SilentlyMissing)
	fmt.Fprintf(w, "stuck                   %d\n", r.Audit.Stuck)
	fmt.Fprintf(w, "lost attempts           %d\n", r.Audit.LostAttempts)
	fmt.Fprintf(w, "lost attempts recovered %d\n", r.Audit.LostRecovered)
	fmt.Fprintf(w, "failovers (epochs)      %d (epoch %d -> %d)\n", r.Failovers(), r.FirstEpoch, r.LastEpoch)
	fmt.Fprintf(w, "max failover gap        kill -9 of leader: %s (n=%d, median %s); SIGTERM of leader: %s (n=%d, median %s); no dispatch within %s: %d\n",
		maxOf(r.KillFailovers), len(r.KillFailovers), median(r.KillFailovers),
		maxOf(r.TermFailovers), len(r.TermFailovers), median(r.TermFailovers), failoverWait, r.FailoverTimeouts)
	fmt.Fprintf(w, "replica self-exits      %d (unclean stops after SIGTERM: %d)\n", r.SelfExits, r.UncleanStops)
	fmt.Fprintf(w, "max dispatch gap        %s (any cause, Redis and MariaDB outages included)\n", r.Audit.MaxDispatchGap.Round(time.Millisecond))
	fmt.Fprintf(w, "statuses               ")
	for _, s := range sortedStatuses(r.Audit) {
		fmt.Fprintf(w, " %s", s)
	}
	fmt.Fprintln(w)
	for _, p := range r.Audit.Problems {
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
	fmt.Fprintf(w, "logs                    %s\n", r.Dir)
}

func sortedStatuses(rep e2e.Report) []string {
	var out []string
	for s, n := range rep.Statuses {
		out = append(out, fmt.Sprintf("%s=%d", s, n))
	}
	slices.Sort(out)
	return out
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m.Round(time.Millisecond)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

// Config returns the chaos run's config: n jobs firing every second with
// misfire run_all and a 1h catch-up window (every tick must run), two
// retries so that attempts lost with their replica run again; every fourth
// job sleeps 2s, so that faults hit running attempts.
func Config(n int) string {
	var b strings.Builder
	b.WriteString(e2e.FaultDefaults)
	for i := range n {
		exec := `command: ["true"]`
		if i%4 == 3 {
			exec = `shell: "sleep 2"`
		}
		fmt.Fprintf(&b, "  - name: %s\n    schedule: \"* * * * * *\"\n    %s\n", e2e.TickJobName(i), exec)
	}
	return b.String()
}

// run is the state of one chaos run.
type run struct {
	o     Options
	rng   *rand.Rand
	out   io.Writer
	redis *Redis
	db    *MariaDB
	c     *e2e.Cluster
	res   *Result
	// downUntil is when each stopped replica is started again.
	downUntil map[int]time.Time
}

// Run starts the private servers and the cluster, injects faults for
// o.Duration, then audits the history of the whole fault window. It returns
// an error only when the run itself could not be carried out; the verdict
// is Result.OK.
func Run(ctx context.Context, o Options) (res *Result, err error) {
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Replicas <= 0 {
		o.Replicas = DefaultReplicas
	}
	if o.Jobs <= 0 {
		o.Jobs = DefaultJobs
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	tempDir := o.Dir == ""
	if tempDir {
		if o.Dir, err = os.MkdirTemp("", "tock-chaos-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	r := &run{
		o: o, rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)), out: o.Progress,
		res:       &Result{Seed: o.Seed, Duration: o.Duration, Replicas: o.Replicas, Dir: o.Dir, Faults: map[string]int{}},
		downUntil: map[int]time.Time{},
	}
	defer func() {
		if cerr := r.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if tempDir && err == nil && res != nil && res.OK() {
			os.RemoveAll(o.Dir)
			res.Dir += " (removed: the run was clean)"
		}
	}()
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	from, err := r.warmUp(ctx)
	if err != nil {
		return nil, err
	}
	end := time.Now().Add(o.Duration)
	r.logf("injecting faults until %s (seed %d)", end.Format(time.TimeOnly), o.Seed)
	if err := r.inject(ctx, end); err != nil {
		return nil, err
	}
	to := time.Now().Truncate(time.Second)
	if err := r.recover(ctx); err != nil {
		return nil, err
	}
	if err := r.audit(ctx, from, to); err != nil {
		return nil, err
	}
	return r.res, nil
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func (r *run) setUp(ctx context.Context) error {
	var err error
	bin := r.o.Tock
	if bin == "" {
		r.logf("building tock")
		if bin, err = e2e.BuildTock(ctx, r.o.Dir); err != nil {
			return err
		}
	}
	r.logf("starting a private redis-server and MariaDB in %s", r.o.Dir)
	if r.redis, err = StartRedis(ctx, r.o.Dir); err != nil {
		return err
	}
	if r.db, err = StartMariaDB(ctx, r.o.Dir); err != nil {
		return err
	}
	if err := r.db.CreateDatabase(ctx, "tock"); err != nil {
		return err
	}
	cfg := filepath.Join(r.o.Dir, "tock.yaml")
	if err := os.WriteFile(cfg, []byte(Config(r.o.Jobs)), 0o644); err != nil {
		return err
	}
	r.c, err = e2e.NewCluster(ctx, e2e.Options{
		Binary: bin, Dir: r.o.Dir, Config: cfg, StoreURL: r.db.URL("tock"), RedisURL: r.redis.URL(),
		Cluster: "chaos", Replicas: r.o.Replicas,
	})
	if err != nil {
		return err
	}
	r.logf("redis on :%d, MariaDB on :%d; starting %d replicas", r.redis.Port, r.db.Port, r.o.Replicas)
	return r.c.StartAll()
}

// warmUp waits for the first dispatch; the audit window starts two whole
// seconds later, when every job's schedule is running.
func (r *run) warmUp(ctx context.Context) (time.Time, error) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	node, epoch, err := r.c.WaitLeader(wctx, 50*time.Millisecond, func(n string, _ int64) bool { return n != "" })
	if err != nil {
		return time.Time{}, fmt.Errorf("no leader within a minute: %w", err)
	}
	if _, err := r.c.WaitDispatchAfter(wctx, 50*time.Millisecond, start.Add(-time.Second)); err != nil {
		return time.Time{}, fmt.Errorf("nothing dispatched within a minute: %w", err)
	}
	r.res.FirstEpoch = epoch
	r.logf("leader %s, epoch %d", node, epoch)
	return time.Now().Truncate(time.Second).Add(2 * time.Second), nil
}

// sleep waits d, starting replicas whose downtime is over.
func (r *run) sleep(ctx context.Context, d time.Duration) error {
	until := time.Now().Add(d)
	for {
		if err := r.restartDue(ctx); err != nil {
			return err
		}
		left := time.Until(until)
		if left <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(left, 100*time.Millisecond)):
		}
	}
}

func (r *run) restartDue(ctx context.Context) error {
	for i := range r.c.Len() {
		if _, down := r.downUntil[i]; down || r.c.Running(i) {
			continue
		}
		// It exited on its own, e.g. it could not open the store while
		// MariaDB was down: a supervisor would start it again.
		r.res.SelfExits++
		r.logf("%s exited by itself (%v); starting it again in 1s", r.c.Replica(i).Name, r.c.Replica(i).ExitState())
		r.downUntil[i] = time.Now().Add(time.Second)
	}
	for i, at := range r.downUntil {
		if time.Now().Before(at) {
			continue
		}
		delete(r.downUntil, i)
		r.logf("starting %s again", r.c.Replica(i).Name)
		if err := r.c.Start(i); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (r *run) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
}

// atOffset waits until faultOffset past a whole second.
func (r *run) atOffset(ctx context.Context) error {
	now := time.Now()
	next := now.Truncate(time.Second).Add(faultOffset)
	if !next.After(now) {
		next = next.Add(time.Second)
	}
	return r.sleep(ctx, next.Sub(now))
}

// fault is one kind of fault with its weight in the draw.
type fault struct {
	name   string
	weight int
	do     func(ctx context.Context) error
}

// inject draws and applies faults until end.
func (r *run) inject(ctx context.Context, end time.Time) error {
	faults := []fault{
		{"kill9-leader", 4, func(ctx context.Context) error { return r.stopLeader(ctx, syscall.SIGKILL) }},
		{"sigterm-leader", 2, func(ctx context.Context) error { return r.stopLeader(ctx, syscall.SIGTERM) }},
		{"kill9-replica", 2, func(ctx context.Context) error { return r.stopRandom(ctx, syscall.SIGKILL) }},
		{"sigterm-replica", 1, func(ctx context.Context) error { return r.stopRandom(ctx, syscall.SIGTERM) }},
		{"redis-flushall", 1, r.flushRedis},
		{"redis-restart", 2, r.restartRedis},
	}
	if !r.o.NoMariaDBRestarts {
		faults = append(faults, fault{"mariadb-restart", 2, r.restartMariaDB})
	}
	total := 0
	for _, f := range faults {
		total += f.weight
	}
	for time.Now().Before(end) {
		if err := r.sleep(ctx, min(r.between(minPause, maxPause), time.Until(end))); err != nil {
			return err
		}
		if !time.Now().Before(end) {
			break
		}
		n := r.rng.IntN(total)
		f := faults[0]
		for _, c := range faults {
			if n < c.weight {
				f = c
				break
			}
			n -= c.weight
		}
		if err := r.atOffset(ctx); err != nil {
			return err
		}
		if err := f.do(ctx); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

func (r *run) count(name string) { r.res.Faults[name]++ }

// stopLeader stops the recorded leader with sig when another replica runs
// (else it stops a random replica, see stopRandom) and measures the
// failover: the time until the first row written after the signal.
func (r *run) stopLeader(ctx context.Context, sig syscall.Signal) error {
	running := r.c.RunningIndexes()
	node, epoch, err := r.c.Leader(ctx)
	if err != nil {
		return err
	}
	i := r.c.Index(node)
	if i < 0 || !r.c.Running(i) || len(running) < 2 {
		return r.stopRandom(ctx, sig)
	}
	name := "kill9-leader"
	if sig == syscall.SIGTERM {
		name = "sigterm-leader"
	}
	// Measure from a steady state, not from the tail of an earlier fault.
	if err := r.steady(ctx); err != nil {
		return err
	}
	if node, epoch, err = r.c.Leader(ctx); err != nil {
		return err
	}
	if i = r.c.Index(node); i < 0 || !r.c.Running(i) {
		return r.stopRandom(ctx, sig)
	}
	r.count(name)
	at := time.Now()
	if err := r.stop(i, sig); err != nil {
		return err
	}
	r.logf("%s: %s (epoch %d), down for %s", name, node, epoch, time.Until(r.downUntil[i]).Round(time.Second))
	wctx, cancel := context.WithTimeout(ctx, failoverWait)
	defer cancel()
	first, err := r.c.WaitDispatchAfter(wctx, 20*time.Millisecond, at)
	switch {
	case err != nil && ctx.Err() == nil:
		r.res.FailoverTimeouts++
		r.logf("  no dispatch within %s after %s", failoverWait, name)
		return nil
	case err != nil:
		return err
	}
	d := first.Sub(at)
	if sig == syscall.SIGKILL {
		r.res.KillFailovers = append(r.res.KillFailovers, d)
	} else {
		r.res.TermFailovers = append(r.res.TermFailovers, d)
	}
	n, e, _ := r.c.Leader(ctx)
	r.logf("  first dispatch %s after the signal; leader %s epoch %d", d.Round(time.Millisecond), n, e)
	return nil
}

// steady waits (at most failoverWait) until the recorded leader runs and
// dispatched within the last 1.2s, then until faultOffset past a second.
func (r *run) steady(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, failoverWait)
	defer cancel()
	err := e2e.Poll(wctx, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := r.restartDue(ctx); err != nil {
			return false, err
		}
		node, _, err := r.c.Leader(ctx)
		if err != nil {
			return false, err
		}
		if i := r.c.Index(node); i < 0 || !r.c.Running(i) {
			return false, nil
		}
		_, ok, err := r.c.FirstDispatchAfter(ctx, time.Now().Add(-1200*time.Millisecond), 5*time.Second)
		return ok, err
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.logf("  cluster not steady within %s (%v); going on", failoverWait, err)
	}
	return r.atOffset(ctx)
}

// stopRandom stops a random running replica, keeping at least one running;
// with only one left it restarts Redis instead.
func (r *run) stopRandom(ctx context.Context, sig syscall.Signal) error {
	running := r.c.RunningIndexes()
	if len(running) < 2 {
		return r.restartRedis(ctx)
	}
	i := running[r.rng.IntN(len(running))]
	name := "kill9-replica"
	if sig == syscall.SIGTERM {
		name = "sigterm-replica"
	}
	r.count(name)
	if err := r.stop(i, sig); err != nil {
		return err
	}
	r.logf("%s: %s, down for %s", name, r.c.Replica(i).Name, time.Until(r.downUntil[i]).Round(time.Second))
	return nil
}

func (r *run) stop(i int, sig syscall.Signal) error {
	r.downUntil[i] = time.Now().Add(r.between(minDown, maxDown))
	if sig == syscall.SIGKILL {
		return r.c.Kill9(i)
	}
	if err := r.c.Term(i); err != nil {
		// A replica that does not stop cleanly is a finding, not a
		// reason to end the run.
		r.res.UncleanStops++
		r.logf("  %v", err)
	}
	return nil
}

// flushRedis empties the private Redis: lease, queue, doorbells.
func (r *run) flushRedis(context.Context) error {
	r.count("redis-flushall")
	if _, err := r.redis.Do("FLUSHALL"); err != nil {
		return err
	}
	r.logf("redis-flushall")
	return nil
}

// restartRedis stops the private Redis (it keeps nothing: every key is
// lost), keeps it down a few seconds and starts it again.
func (r *run) restartRedis(ctx context.Context) error {
	r.count("redis-restart")
	sig := r.signal()
	if err := r.redis.Stop(sig); err != nil {
		return err
	}
	down := r.between(minDown/2, maxDown/2)
	r.logf("redis-restart: stopped with %s, down for %s", sig, down.Round(100*time.Millisecond))
	if err := r.sleep(ctx, down); err != nil {
		return err
	}
	return r.redis.Start(ctx)
}

// restartMariaDB stops the private MariaDB, cleanly or by a crash, keeps it
// down a few seconds and starts it again.
func (r *run) restartMariaDB(ctx context.Context) error {
	r.count("mariadb-restart")
	sig := r.signal()
	if err := r.db.Stop(sig); err != nil {
		return err
	}
	down := r.between(minDown/2, maxDown/2)
	r.logf("mariadb-restart: stopped with %s, down for %s", sig, down.Round(100*time.Millisecond))
	if err := r.sleep(ctx, down); err != nil {
		return err
	}
	start := time.Now()
	if err := r.db.Start(ctx); err != nil {
		return err
	}
	r.logf("  MariaDB answers again after %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func (r *run) signal() syscall.Signal {
	if r.rng.IntN(2) == 0 {
		return syscall.SIGKILL
	}
	return syscall.SIGTERM
}

// recover brings every replica back and waits for a leader to dispatch.
func (r *run) recover(ctx context.Context) error {
	r.logf("faults over; starting every replica")
	for i := range r.downUntil {
		delete(r.downUntil, i)
	}
	if err := r.c.StartAll(); err != nil {
		return err
	}
	at := time.Now()
	wctx, cancel := context.WithTimeout(ctx, failoverWait)
	defer cancel()
	if _, err := r.c.WaitDispatchAfter(wctx, 50*time.Millisecond, at); err != nil {
		return fmt.Errorf("nothing dispatched after the faults stopped: %w", err)
	}
	return nil
}

// audit waits (bounded) until the window's runs are finished and every tick
// accounted for, then records the audit and the last epoch.
func (r *run) audit(ctx context.Context, from, to time.Time) error {
	r.logf("auditing %s .. %s", from.Format(time.TimeOnly), to.Format(time.TimeOnly))
	p := e2e.AuditParams{Jobs: r.c.Jobs(), From: from, To: to, StuckAfter: 2 * time.Minute}
	wctx, cancel := context.WithTimeout(ctx, settleWait)
	defer cancel()
	var rep e2e.Report
	err := e2e.Poll(wctx, time.Second, func(ctx context.Context) (bool, error) {
		p.Now = time.Now()
		var err error
		rep, err = e2e.Audit(ctx, r.c.Store(), p)
		return err == nil && rep.Pending == 0 && rep.SilentlyMissing == 0, err
	})
	if err != nil && rep.TicksExpected == 0 {
		return fmt.Errorf("auditing: %w", err)
	}
	if rep.Pending > 0 {
		// Unfinished after settleWait: that is stuck, whatever its age.
		rep.Stuck += rep.Pending
		rep.Pending = 0
	}
	r.res.Audit = rep
	_, epoch, err := r.c.Leader(ctx)
	if err != nil {
		return err
	}
	r.res.LastEpoch = epoch
	return nil
}

// close stops the cluster and the private servers.
func (r *run) close() error {
	var errs []error
	if r.c != nil {
		errs = append(errs, r.c.Close())
	}
	if r.redis != nil {
		errs = append(errs, r.redis.Stop(syscall.SIGTERM))
	}
	if r.db != nil {
		errs = append(errs, r.db.Stop(syscall.SIGTERM))
	}
	return errors.Join(errs...)
}
