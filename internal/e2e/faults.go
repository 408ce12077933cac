package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tock-sched/tock/internal/faultproxy"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/scheduler"
	"github.com/tock-sched/tock/storage"
)

// FaultKind is what a fault scenario does to its target replica.
type FaultKind string

// Fault kinds.
const (
	// FaultNone injects nothing: the control run, whose figures are the
	// machine's floor (lateness, durability) for the others.
	FaultNone FaultKind = "none"
	// FaultFreeze SIGSTOPs the replica for Down, then SIGCONTs it.
	FaultFreeze FaultKind = "freeze"
	// FaultRedisRefuse and FaultRedisBlackhole cut the replica off from
	// Redis for Down through its fault proxy (faultproxy.Refuse,
	// faultproxy.Blackhole); FaultMySQLRefuse and FaultMySQLBlackhole from
	// MariaDB.
	FaultRedisRefuse    FaultKind = "redis-refuse"
	FaultRedisBlackhole FaultKind = "redis-blackhole"
	FaultMySQLRefuse    FaultKind = "mysql-refuse"
	FaultMySQLBlackhole FaultKind = "mysql-blackhole"
	// FaultSkew runs the replica with its clock off by Skew for the whole
	// scenario (TOCK_FAULT_CLOCK_OFFSET; needs a FaultTag build).
	FaultSkew FaultKind = "skew"
)

// FaultTarget says which replica a scenario hits.
type FaultTarget string

// Targets.
const (
	TargetLeader FaultTarget = "leader"
	TargetWorker FaultTarget = "worker" // a replica that does not lead
	// TargetAll cuts every replica off (Redis down for the whole
	// cluster): the leader goes on leading on the store's lease row and
	// workers claim due runs from the store.
	TargetAll FaultTarget = "all"
)

// FaultScenario is one fault of the kit.
type FaultScenario struct {
	Name   string
	Kind   FaultKind
	Target FaultTarget
	// Down is how long a freeze or a cut lasts. Default 6s for a freeze
	// (twice the attempt lease), 10s for a cut.
	Down time.Duration
	// Skew is the clock offset of a FaultSkew scenario.
	Skew time.Duration
}

// leaderFault reports whether the scenario takes the leader out of
// service, so that another replica must take over.
func (s FaultScenario) leaderFault() bool {
	return s.Target == TargetLeader && s.Kind != FaultSkew && s.Kind != FaultNone && !s.redis()
}

// redis reports whether the scenario cuts Redis. A leader cut off from
// Redis goes on leading on the store's lease row: no failover, and no
// dispatch gap beyond lease-ttl + 1s is allowed.
func (s FaultScenario) redis() bool { return strings.HasPrefix(string(s.Kind), "redis-") }

// FaultPollBound bounds the start lateness p99 while Redis is refused to
// every replica: the workers' poll interval (worker.DefaultPollInterval,
// ±20%) plus FaultLatenessP99. A blackholed Redis (no answer at all) is
// found out only when a pop has not answered within the queue's block
// (redis.DefaultQueueBlock, 1s) and 500ms: runs due meanwhile start that
// much later, so FaultBlackholeBound adds it.
const (
	FaultPollBound      = 600*time.Millisecond + FaultLatenessP99
	FaultBlackholeBound = FaultPollBound + 1500*time.Millisecond
)

// steady reports whether the scenario keeps every replica in service
// (control and skew runs): no attempt may be lost and start lateness is
// bounded by FaultLatenessP99.
func (s FaultScenario) steady() bool { return s.Kind == FaultSkew || s.Kind == FaultNone }

func (s FaultScenario) down() time.Duration {
	switch {
	case s.Down > 0:
		return s.Down
	case s.Kind == FaultFreeze:
		return 6 * time.Second
	case s.steady():
		return 0
	}
	return 10 * time.Second
}

// FaultScenarios is the kit: a control run without fault, then every
// fault, on the leader and on a worker.
func FaultScenarios() []FaultScenario {
	out := []FaultScenario{{Name: "baseline", Kind: FaultNone, Target: TargetLeader}}
	for _, k := range []FaultKind{FaultFreeze, FaultRedisRefuse, FaultRedisBlackhole, FaultMySQLRefuse, FaultMySQLBlackhole} {
		for _, t := range []FaultTarget{TargetLeader, TargetWorker} {
			out = append(out, FaultScenario{Name: string(k) + "-" + string(t), Kind: k, Target: t})
		}
	}
	// Redis down for the whole cluster for a minute.
	for _, k := range []FaultKind{FaultRedisRefuse, FaultRedisBlackhole} {
		out = append(out, FaultScenario{Name: string(k) + "-all", Kind: k, Target: TargetAll, Down: time.Minute})
	}
	for _, skew := range []time.Duration{3 * time.Second, -3 * time.Second} {
		for _, t := range []FaultTarget{TargetLeader, TargetWorker} {
			name := fmt.Sprintf("skew%+ds-%s", int(skew.Seconds()), t)
			out = append(out, FaultScenario{Name: name, Kind: FaultSkew, Target: t, Skew: skew})
		}
	}
	return out
}

// FaultScenarioNamed returns the scenario of FaultScenarios named name.
func FaultScenarioNamed(name string) (FaultScenario, bool) {
	for _, s := range FaultScenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return FaultScenario{}, false
}

// Settings of every fault scenario's cluster: the fault run's (three
// replicas, --lease-ttl 3s, --attempt-lease 3s, --lookahead 1s) and tock's
// defaults for the reaper, so that lateness figures are what a deployment
// sees.
const (
	FaultReplicas     = 3
	FaultJobs         = 20
	FaultLeaseTTL     = 3 * time.Second
	FaultAttemptLease = 3 * time.Second
	FaultLookahead    = time.Second
	FaultReapInterval = time.Second
	FaultRequeueAfter = scheduler.DefaultRequeueAfter
	// FaultOvertakeAfter is how far behind a later tick a tick's first
	// start may be before the verdict calls its doorbell lost: beyond what
	// a doorbell lost in transit (rung again after the requeue-after) or a
	// run held by a frozen replica (reaped after the attempt lease) costs.
	FaultOvertakeAfter = 5 * time.Second
	FaultWorkers       = 16
	// FaultLatenessP99 bounds the start lateness p99 of a skew scenario.
	FaultLatenessP99 = 250 * time.Millisecond
)

// FaultEnv is where a fault scenario runs.
type FaultEnv struct {
	// Binary is tock built with FaultTag (BuildTockWith). Required.
	Binary string
	// Dir receives the config, the execution log and the replicas' logs.
	// Required.
	Dir string
	// StoreURL is an empty mysql:// database; RedisURL and Cluster a Redis
	// and a key prefix of the scenario's own. Required.
	StoreURL, RedisURL, Cluster string
	// Before is the steady time before the fault, After the time after it
	// ends. Default 8s and 12s.
	Before, After time.Duration
	// SettleWait bounds how long the window's runs may take to end after
	// it closed. Default 45s.
	SettleWait time.Duration
	// Logf receives progress. Default discards.
	Logf func(format string, args ...any)
	// CountsOnly leaves the timing bounds (start lateness p99, failover
	// time, overtaken ticks) out of the verdict, for runs that share the
	// machine with other work, such as the default test suite's short
	// versions: timing targets are judged by `make faults` on a quiet
	// machine, the counts (duplicates, starts after the lease, lost, stuck
	// and missing runs, a failover that never happens) everywhere. The
	// figures are still measured and printed.
	CountsOnly bool
}

// FaultResult is what one fault scenario measured.
type FaultResult struct {
	Scenario FaultScenario
	// Target is the replica hit.
	Target string
	// FaultAt and RestoredAt are when the fault began and ended (true
	// time); for a skew scenario the whole window.
	FaultAt, RestoredAt time.Time
	// History is the history audit of the window, Exec the execution
	// audit.
	History Report
	Exec    ExecReport
	// Failover, for a fault of the leader, is the time from the fault to
	// the first run row dispatched by a leadership term begun after it;
	// FailoverMeasured is false when no such term dispatched anything in
	// the window.
	Failover         time.Duration
	FailoverMeasured bool
	FailoverBound    time.Duration
	// SelfExits counts replicas that exited on their own (started again).
	SelfExits int
	// Load is the machine's 1-minute load average at the start of the
	// window, at the fault and at the end of the window (from
	// /proc/loadavg; 0 where unknown): on a 2-core machine shared with
	// other work, lateness figures mean little when it is high (compare
	// the baseline scenario).
	Load [3]float64
	// Failures lists the requirements not met; empty is a pass.
	Failures []string
	Dir      string
}

// Pass reports whether every requirement was met.
func (r *FaultResult) Pass() bool { return len(r.Failures) == 0 }

// RunFault runs one scenario: three replicas of tock, each reaching Redis
// and MariaDB through fault proxies of its own, run ExecConfig's 20 jobs;
// after Before the fault hits the target, lasts its Down, and the cluster
// runs After more; then the window's history and executions are audited
// and checked against the requirements (see FaultResult.Failures). It
// returns an error only if the scenario could not be carried out.
func RunFault(ctx context.Context, sc FaultScenario, env FaultEnv) (res *FaultResult, err error) {
	if env.Binary == "" || env.Dir == "" || env.StoreURL == "" || env.RedisURL == "" || env.Cluster == "" {
		return nil, errors.New("e2e: FaultEnv needs Binary, Dir, StoreURL, RedisURL and Cluster")
	}
	if env.Before <= 0 {
		env.Before = 8 * time.Second
	}
	if env.After <= 0 {
		env.After = 12 * time.Second
	}
	if env.SettleWait <= 0 {
		env.SettleWait = 45 * time.Second
	}
	logf := env.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	f := &faultRun{sc: sc, env: env, logf: logf, res: &FaultResult{Scenario: sc, Dir: env.Dir}}
	defer func() {
		if cerr := f.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := f.setUp(ctx); err != nil {
		return nil, err
	}
	if err := f.run(ctx); err != nil {
		return nil, err
	}
	if err := f.audit(ctx); err != nil {
		return nil, err
	}
	f.judge()
	return f.res, nil
}

type faultRun struct {
	sc      FaultScenario
	env     FaultEnv
	logf    func(string, ...any)
	res     *FaultResult
	c       *Cluster
	redis   []*faultproxy.Proxy
	mysql   []*faultproxy.Proxy
	execLog string
	from    time.Time
	to      time.Time
	target  int
}

// proxied returns rawURL with its host:port replaced by addr (a proxy's).
func proxied(rawURL, addr string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", redactURL(rawURL), err)
	}
	u.Host = addr
	return u.String(), nil
}

// hostPort returns the host:port of rawURL, with def as the port if it
// names none.
func hostPort(rawURL, def string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", redactURL(rawURL), err)
	}
	if u.Port() == "" {
		return u.Hostname() + ":" + def, nil
	}
	return u.Host, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

func (f *faultRun) setUp(ctx context.Context) error {
	redisAddr, err := hostPort(f.env.RedisURL, "6379")
	if err != nil {
		return err
	}
	mysqlAddr, err := hostPort(f.env.StoreURL, "3306")
	if err != nil {
		return err
	}
	f.execLog = filepath.Join(f.env.Dir, "executions.log")
	cfgPath := filepath.Join(f.env.Dir, "tock.yaml")
	if err := os.WriteFile(cfgPath, []byte(ExecConfig(FaultJobs, f.execLog)), 0o644); err != nil {
		return err
	}
	// Each replica reaches the service the scenario cuts through a proxy
	// of its own (only that service: the proxies cost CPU, and in the
	// default suite they run in a -race test binary).
	per := make([]ReplicaOptions, FaultReplicas)
	for i := range per {
		switch {
		case strings.HasPrefix(string(f.sc.Kind), "redis-"):
			rp, err := faultproxy.New(redisAddr)
			if err != nil {
				return err
			}
			f.redis = append(f.redis, rp)
			if per[i].RedisURL, err = proxied(f.env.RedisURL, rp.Addr()); err != nil {
				return err
			}
		case strings.HasPrefix(string(f.sc.Kind), "mysql-"):
			mp, err := faultproxy.New(mysqlAddr)
			if err != nil {
				return err
			}
			f.mysql = append(f.mysql, mp)
			if per[i].StoreURL, err = proxied(f.env.StoreURL, mp.Addr()); err != nil {
				return err
			}
		}
	}
	// The skewed replica: node-1 when it must lead (it starts first),
	// node-2 when it must not.
	f.target = -1
	if f.sc.Kind == FaultSkew {
		f.target = 0
		if f.sc.Target == TargetWorker {
			f.target = 1
		}
		per[f.target].Env = append(per[f.target].Env, "TOCK_FAULT_CLOCK_OFFSET="+f.sc.Skew.String())
	}
	f.c, err = NewCluster(ctx, Options{
		Binary: f.env.Binary, Dir: f.env.Dir, Config: cfgPath, StoreURL: f.env.StoreURL, RedisURL: f.env.RedisURL,
		Cluster: f.env.Cluster, Replicas: FaultReplicas, LeaseTTL: FaultLeaseTTL, AttemptLease: FaultAttemptLease,
		ReapInterval: FaultReapInterval, RequeueAfter: FaultRequeueAfter, Workers: FaultWorkers,
		Args: []string{"--lookahead", FaultLookahead.String()}, PerReplica: per,
	})
	return err
}

func (f *faultRun) close() error {
	var errs []error
	if f.c != nil {
		errs = append(errs, f.c.Close())
	}
	for _, p := range append(f.redis, f.mysql...) {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// sleep waits d, starting again (after a second, as a supervisor would)
// replicas that exited on their own, frozen ones excepted.
func (f *faultRun) sleep(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		for i := range f.c.Len() {
			if f.c.Running(i) || f.c.Replica(i).ExitState() == nil {
				continue
			}
			f.res.SelfExits++
			f.logf("%s exited on its own (%v); starting it again", f.c.Replica(i).Name, f.c.Replica(i).ExitState())
			time.Sleep(time.Second)
			if err := f.c.Start(i); err != nil {
				return err
			}
		}
		left := time.Until(end)
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

func (f *faultRun) waitLeader(ctx context.Context, ok func(string) bool) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, _, err := f.c.WaitLeader(wctx, 25*time.Millisecond, func(n string, _ int64) bool { return ok(n) })
	if err != nil {
		return "", fmt.Errorf("waiting for a leader: %w", err)
	}
	return n, nil
}

func (f *faultRun) run(ctx context.Context) error {
	start := time.Now()
	if f.sc.Kind == FaultSkew {
		// node-1 starts alone and leads; the others follow.
		if err := f.c.Start(0); err != nil {
			return err
		}
		if _, err := f.waitLeader(ctx, func(n string) bool { return n == f.c.Replica(0).Name }); err != nil {
			return err
		}
		for i := 1; i < f.c.Len(); i++ {
			if err := f.c.Start(i); err != nil {
				return err
			}
		}
	} else if err := f.c.StartAll(); err != nil {
		return err
	}
	leader, err := f.waitLeader(ctx, func(n string) bool { return n != "" })
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = f.c.WaitDispatchAfter(wctx, 25*time.Millisecond, start.Add(-5*time.Second))
	cancel()
	if err != nil {
		return fmt.Errorf("nothing dispatched within 30s: %w", err)
	}
	f.from = time.Now().Truncate(time.Second).Add(2 * time.Second)
	if f.sc.Kind == FaultSkew {
		// A leader whose clock runs ahead starts a new job's schedule at
		// its own now, so the ticks of the first seconds after the true
		// start are not its to dispatch: begin the window past them.
		f.from = f.from.Add(f.sc.Skew.Abs().Truncate(time.Second) + time.Second)
	}
	f.logf("%s: leader %s; window from %s", f.sc.Name, leader, hms(f.from))
	f.res.Load[0] = loadAvg()
	if f.sc.steady() {
		if f.target >= 0 {
			f.res.Target = f.c.Replica(f.target).Name
		} else {
			f.res.Target = "-"
		}
		f.res.FaultAt = f.from
		if err := f.sleep(ctx, time.Until(f.from.Add(f.env.Before+f.env.After))); err != nil {
			return err
		}
		f.res.RestoredAt = time.Now()
		f.to = time.Now().Truncate(time.Second)
		f.res.Load[1], f.res.Load[2] = f.res.Load[0], loadAvg()
		if n, _, err := f.c.Leader(ctx); err == nil {
			f.logf("%s: skewed replica %s; leader at the end %s", f.sc.Name, f.res.Target, n)
		}
		return nil
	}
	if err := f.sleep(ctx, f.env.Before); err != nil {
		return err
	}
	atSubsecondCtx(ctx, 300)
	leader, _, err = f.c.Leader(ctx)
	if err != nil {
		return err
	}
	li := f.c.Index(leader)
	f.target = li
	if f.sc.Target == TargetWorker || li < 0 || !f.c.Running(li) {
		for i := 1; i <= f.c.Len(); i++ {
			j := (max(li, 0) + i) % f.c.Len()
			if j != li && f.c.Running(j) {
				f.target = j
				break
			}
		}
	}
	if f.target < 0 {
		return fmt.Errorf("no replica to hit (leader %q)", leader)
	}
	if f.sc.Kind == FaultFreeze && f.sc.Target == TargetWorker {
		// Freeze the worker that holds the most runs claimed ahead (its
		// attempts wait for their tick), trying a few seconds for one.
		if i, n := f.heldAhead(ctx, li); i >= 0 {
			f.target = i
			f.logf("%s: %s holds %d runs claimed ahead", f.sc.Name, f.c.Replica(i).Name, n)
		}
	}
	f.res.Target = f.c.Replica(f.target).Name
	if f.sc.Target == TargetAll {
		f.res.Target = "every replica"
	}
	down := f.sc.down()
	f.res.FaultAt = time.Now()
	f.res.Load[1] = loadAvg()
	if err := f.apply(true); err != nil {
		return err
	}
	f.logf("%s: %s on %s (leader %s) for %s", f.sc.Name, f.sc.Kind, f.res.Target, leader, down)
	serr := f.sleep(ctx, down)
	f.res.RestoredAt = time.Now()
	if err := f.apply(false); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	if err := f.sleep(ctx, f.env.After); err != nil {
		return err
	}
	f.to = time.Now().Truncate(time.Second)
	f.res.Load[2] = loadAvg()
	return nil
}

// loadAvg returns the 1-minute load average, 0 if unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return 0
	}
	return l
}

// heldAhead returns the running replica other than leader that holds the
// most runs claimed ahead (running, not before a time still to come), at
// 300ms past a whole second, trying for up to 5s; -1 if none does.
func (f *faultRun) heldAhead(ctx context.Context, leader int) (int, int) {
	for range 5 {
		now := time.Now()
		rows, err := f.c.Store().ListRuns(ctx, storage.RunFilter{Status: jobs.StatusRunning, Since: now.Add(-time.Minute), Limit: 1000})
		if err == nil {
			count := map[int]int{}
			for _, r := range rows {
				if i := f.c.Index(r.Node); i >= 0 && i != leader && r.NotBefore.After(now) && f.c.Running(i) {
					count[i]++
				}
			}
			best, n := -1, 0
			for i, c := range count {
				if c > n {
					best, n = i, c
				}
			}
			if best >= 0 {
				return best, n
			}
		}
		atSubsecondCtx(ctx, 300)
	}
	return -1, 0
}

// apply begins (on) or ends the fault on the target.
func (f *faultRun) apply(on bool) error {
	i := f.target
	mode := faultproxy.Pass
	switch f.sc.Kind {
	case FaultFreeze:
		if on {
			return f.c.Freeze(i)
		}
		return f.c.Thaw(i)
	case FaultRedisRefuse, FaultMySQLRefuse:
		if on {
			mode = faultproxy.Refuse
		}
	case FaultRedisBlackhole, FaultMySQLBlackhole:
		if on {
			mode = faultproxy.Blackhole
		}
	default:
		return fmt.Errorf("fault kind %q cannot be applied", f.sc.Kind)
	}
	if f.sc.Target == TargetAll {
		for _, p := range append(f.redis, f.mysql...) {
			p.SetMode(mode)
		}
		return nil
	}
	if strings.HasPrefix(string(f.sc.Kind), "redis-") {
		f.redis[i].SetMode(mode)
	} else {
		f.mysql[i].SetMode(mode)
	}
	return nil
}

func atSubsecondCtx(ctx context.Context, ms int) {
	now := time.Now()
	next := now.Truncate(time.Second).Add(time.Duration(ms) * time.Millisecond)
	if !next.After(now) {
		next = next.Add(time.Second)
	}
	select {
	case <-ctx.Done():
	case <-time.After(next.Sub(now)):
	}
}

func (f *faultRun) tickJobs() []*jobs.Job {
	var out []*jobs.Job
	for _, j := range f.c.Jobs() {
		if strings.HasPrefix(j.Name, "tick-") {
			out = append(out, j)
		}
	}
	return out
}

func (f *faultRun) audit(ctx context.Context) error {
	jobsList := f.tickJobs()
	p := AuditParams{Jobs: jobsList, From: f.from, To: f.to}
	// Wait (bounded) until the window's runs ended, then audit once more
	// with a context of its own, so that a settle wait that ran out still
	// yields a whole report.
	sctx, cancel := context.WithTimeout(ctx, f.env.SettleWait)
	_ = Poll(sctx, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		p.Now = time.Now()
		rep, err := Audit(ctx, f.c.Store(), p)
		return err == nil && rep.Pending == 0 && rep.SilentlyMissing == 0, err
	})
	cancel()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The executions first, then history: a body starts only after its
	// claim committed, so every start line read now has its attempt in the
	// history read next (read the other way round, a run claimed between
	// the two reads would look like an orphan).
	lines, err := ParseExecLog(f.execLog)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	p.Now = time.Now()
	rep, err := Audit(actx, f.c.Store(), p)
	if err != nil {
		return fmt.Errorf("auditing history: %w", err)
	}
	// Unfinished after the settle wait: stuck, whatever its age.
	rep.Stuck += rep.Pending
	rep.Pending = 0
	f.res.History = rep
	names := make([]string, len(jobsList))
	for i, j := range jobsList {
		names[i] = j.Name
	}
	hist, err := CollectHistory(actx, f.c.Store(), f.from, f.to, names)
	if err != nil {
		return err
	}
	events, err := f.c.LogEvents(MsgElected, MsgAttemptLeaseExpired, MsgAttemptFinished, MsgAttemptStopped, MsgAttemptStarted)
	if err != nil {
		return err
	}
	f.res.Exec = AuditExecutions(ExecParams{Jobs: jobsList, From: f.from, To: f.to, Lines: lines, History: hist,
		Events: events, LateAfter: FaultRequeueAfter, OvertakeAfter: FaultOvertakeAfter})
	if f.sc.leaderFault() {
		f.failover(actx, events)
	}
	return nil
}

// failover measures the time from the fault to the first run row written
// in a leadership term begun after it (its "elected leader" line).
func (f *faultRun) failover(ctx context.Context, events []LogEvent) {
	f.res.FailoverBound = FaultLeaseTTL + time.Second
	var elected time.Time
	for _, ev := range events {
		if ev.Msg == MsgElected && ev.Time.After(f.res.FaultAt) && (elected.IsZero() || ev.Time.Before(elected)) {
			elected = ev.Time
		}
	}
	if elected.IsZero() {
		return
	}
	first, ok, err := f.c.FirstDispatchAfter(ctx, elected, elected.Sub(f.res.FaultAt)+10*time.Second)
	if err != nil || !ok {
		return
	}
	f.res.Failover, f.res.FailoverMeasured = first.Sub(f.res.FaultAt), true
}

// judge lists the requirements the scenario did not meet.
func (f *faultRun) judge() {
	r := f.res
	h, x := r.History, r.Exec
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if x.StartsAfterLease > 0 {
		fail("%d attempts started after their lease deadline or reap (%d after the reap)", x.StartsAfterLease, x.StartsAfterReap)
	}
	if x.TrueDuplicates > 0 {
		fail("%d true duplicate executions", x.TrueDuplicates)
	}
	if h.SilentlyMissing > 0 || h.Duplicates > 0 || h.OffSchedule > 0 {
		fail("history: %d silently missing, %d duplicate rows, %d off schedule", h.SilentlyMissing, h.Duplicates, h.OffSchedule)
	}
	if h.Stuck > 0 {
		fail("%d runs stuck (not ended %s after the window)", h.Stuck, f.env.SettleWait)
	}
	if x.Mismatches > 0 || x.Orphans > 0 {
		fail("%d history-vs-execution mismatches, %d orphan executions", x.Mismatches, x.Orphans)
	}
	if x.Early > 0 {
		fail("%d ticks started early", x.Early)
	}
	if x.Overtaken > 0 && !f.env.CountsOnly {
		fail("%d ticks started %s or more after a later tick had (a doorbell lost until the reaper rang it again, or never rung); %d started %s or more late", x.Overtaken, x.OvertakeAfter, x.Late, x.LateAfter)
	}
	failed := 0
	for _, s := range []jobs.RunStatus{jobs.StatusFailed, jobs.StatusLost, jobs.StatusTimedOut, jobs.StatusCanceled} {
		failed += h.Statuses[s]
	}
	if failed > 0 {
		fail("%d runs ended without success", failed)
	}
	if f.sc.steady() {
		if x.LostRuns > 0 {
			cause := "to skew"
			if f.sc.Kind == FaultNone {
				cause = "without a fault"
			}
			fail("%d runs lost %s (a lost attempt or no success; %d attempts lost after the body had ended)", x.LostRuns, cause, x.CompletedLost)
		}
		if x.TockLateness.P99 > FaultLatenessP99 && !f.env.CountsOnly {
			fail("start lateness p99 %s > %s (tock's, from its attempt-started lines; the bodies' p99 is %s)", ms(x.TockLateness.P99), ms(FaultLatenessP99), ms(x.Lateness.P99))
		}
	}
	if f.sc.Target == TargetAll && f.sc.redis() && !f.env.CountsOnly {
		bound := FaultPollBound
		if f.sc.Kind == FaultRedisBlackhole {
			bound = FaultBlackholeBound
		}
		if x.TockLateness.P99 > bound {
			fail("start lateness p99 %s > %s with Redis down for every replica (tock's, from its attempt-started lines; the bodies' p99 is %s)",
				ms(x.TockLateness.P99), ms(bound), ms(x.Lateness.P99))
		}
	}
	if f.sc.Target == TargetLeader && f.sc.redis() && h.MaxDispatchGap > FaultLeaseTTL+time.Second && !f.env.CountsOnly {
		fail("max dispatch gap %s > lease-ttl + 1s = %s with the leader cut off from Redis (it leads on the store's lease row)",
			ms(h.MaxDispatchGap), ms(FaultLeaseTTL+time.Second))
	}
	if f.sc.leaderFault() {
		switch {
		case !r.FailoverMeasured:
			fail("no leadership term begun after the fault dispatched anything in the window")
		case r.Failover > r.FailoverBound && !f.env.CountsOnly:
			fail("failover %s > lease-ttl + 1s = %s", ms(r.Failover), ms(r.FailoverBound))
		}
	}
}

// Print writes the result: both audits and the verdict.
func (r *FaultResult) Print(w io.Writer) {
	fmt.Fprintf(w, "scenario %s: %s of %s", r.Scenario.Name, r.Scenario.Kind, r.Target)
	switch r.Scenario.Kind {
	case FaultNone:
		fmt.Fprintln(w, " (no fault)")
	case FaultSkew:
		fmt.Fprintf(w, " by %s for the whole window\n", r.Scenario.Skew)
	default:
		fmt.Fprintf(w, " from %s to %s\n", hmsm(r.FaultAt), hmsm(r.RestoredAt))
	}
	r.History.Print(w)
	r.Exec.Print(w)
	if r.FailoverBound > 0 {
		fmt.Fprintf(w, "failover                  %s (bound %s)\n", r.failoverText(), ms(r.FailoverBound))
	}
	if r.SelfExits > 0 {
		fmt.Fprintf(w, "replica self-exits        %d\n", r.SelfExits)
	}
	fmt.Fprintf(w, "machine load (1 min)      %.1f at the start, %.1f at the fault, %.1f at the end\n", r.Load[0], r.Load[1], r.Load[2])
	fmt.Fprintf(w, "logs                      %s\n", r.Dir)
	if r.Pass() {
		fmt.Fprintln(w, "PASS")
		return
	}
	for _, m := range r.Failures {
		fmt.Fprintf(w, "FAIL: %s\n", m)
	}
}

func (r *FaultResult) failoverText() string {
	switch {
	case r.FailoverBound == 0:
		return "-"
	case !r.FailoverMeasured:
		return "none"
	}
	return ms(r.Failover)
}

// FaultTableHeader is the header of the markdown table of FaultResult rows.
func FaultTableHeader() string {
	return "| scenario | target | ticks | executions | duplicate executions | true duplicates | re-runs of completed-but-unrecorded bodies | silently missing | stuck | history-vs-execution mismatches | orphans | starts after lease deadline/reap | lost runs | early / late ≥ requeue-after / overtaken ≥ 5 s | max dispatch gap | start lateness p50/p99 (body) | start lateness p50/p99 (tock) | failover | body end → durable p50/p99 | verdict |\n" +
		"|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
}

// TableRow is the scenario's row of the markdown table.
func (r *FaultResult) TableRow() string {
	h, x := r.History, r.Exec
	verdict := "PASS"
	if !r.Pass() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d / %d / %d | %s | %s / %s | %s / %s | %s | %s / %s | %s |",
		r.Scenario.Name, r.Target, x.Ticks, x.Executions, x.Duplicates, x.TrueDuplicates, x.ReexecCompleted,
		h.SilentlyMissing, h.Stuck, x.Mismatches, x.Orphans, x.StartsAfterLease, x.LostRuns, x.Early, x.Late, x.Overtaken,
		ms(h.MaxDispatchGap), ms(x.Lateness.P50), ms(x.Lateness.P99), ms(x.TockLateness.P50), ms(x.TockLateness.P99), r.failoverText(),
		ms(x.EndToDurable.P50), ms(x.EndToDurable.P99), verdict)
}
