package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/redis"
	"github.com/tock-sched/tock/storage/redis/redistest"
)

// These tests drive real `tock run` processes against the shared MariaDB and
// Redis, one scenario at a time (no t.Parallel: three replicas running 20
// jobs a second load a 2-core machine enough). Each waits for real time to
// pass, because the system under test runs on the real clock; every wait is
// a poll of the store with a deadline, never an assertion on luck.

const (
	tickJobs = 20
	// pollEvery is how often the tests read the store while waiting.
	pollEvery = 25 * time.Millisecond
	// settleWait bounds how long the window's last runs may take to finish
	// after the window closed.
	settleWait = 30 * time.Second
	// failoverSlack is what the failover bound allows beyond lease-ttl + 1s:
	// after the lease expires a standby can wait up to its retry interval
	// (min(1s, ttl/3)) before it tries again — that is the "+ 1s" — and
	// then it still has to bump the epoch, read the job states and commit
	// its catch-up dispatch, a few store round trips on a loaded 2-core
	// machine.
	failoverSlack = 500 * time.Millisecond
)

var (
	buildOnce sync.Once
	binDir    string
	tockBin   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{binDir, faultBinDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

// tockBinary builds the tock binary once per test process.
func tockBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "tock-e2e-"); buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		tockBin, buildErr = BuildTock(ctx, binDir)
	})
	if buildErr != nil {
		t.Fatalf("building tock: %v", buildErr)
	}
	return tockBin
}

// scenario is one test's cluster and the window it audits.
type scenario struct {
	t        *testing.T
	c        *Cluster
	dir      string
	config   string
	storeURL string
	redisURL string
	prefix   string
	from     time.Time
}

// newScenario starts three replicas on a fresh database and Redis prefix,
// running TickConfig(20, extra), and waits until the first leader
// dispatched. Its cleanup kills every process, also on failure, and dumps
// the replicas' last log lines when the test failed.
func newScenario(t *testing.T, extra string, args ...string) *scenario {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: multi-process tests do not run with -short")
	}
	// Each test has its own cluster prefix; its keys (and only those) are
	// deleted at cleanup, so tests of other packages share the Redis.
	redisURL, prefix := redistest.New(t)
	return newScenarioOn(t, redisURL, prefix, extra, args...)
}

// newScenarioOn is newScenario on the given Redis and cluster prefix.
func newScenarioOn(t *testing.T, redisURL, prefix, extra string, args ...string) *scenario {
	return newScenarioWith(t, redisURL, prefix, TickConfig(tickJobs, extra), args...)
}

// newScenarioWith is newScenarioOn running the config text cfg, whose
// tick jobs are named TickJobName(0…tickJobs-1).
func newScenarioWith(t *testing.T, redisURL, prefix, cfg string, args ...string) *scenario {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: multi-process tests do not run with -short")
	}
	bin := tockBinary(t)
	s := &scenario{t: t, dir: t.TempDir(), redisURL: redisURL, prefix: prefix}
	s.storeURL = mysqltest.NewDatabase(t)
	s.config = filepath.Join(s.dir, "tock.yaml")
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s.c = prepareCluster(t, Options{
		Binary: bin, Dir: s.dir, Config: s.config, StoreURL: s.storeURL, RedisURL: s.redisURL,
		Cluster: s.prefix, Replicas: 3, Args: args,
	})
	s.warmUp()
	return s
}

// prepareCluster makes and starts the cluster o describes. Its cleanup
// dumps the replicas' last log lines when the test failed and stops every
// process.
func prepareCluster(t *testing.T, o Options) *Cluster {
	t.Helper()
	c, err := NewCluster(context.Background(), o)
	if err != nil {
		t.Fatalf("preparing the cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			c.Tail(&b, 40)
			t.Log("replica logs:\n" + b.String())
		}
		if err := c.Close(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	if err := c.StartAll(); err != nil {
		t.Fatal(err)
	}
	return c
}

// startCluster is prepareCluster, then a wait of up to wait for a leader.
func startCluster(t *testing.T, o Options, wait time.Duration) *Cluster {
	t.Helper()
	c := prepareCluster(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, _, err := c.WaitLeader(ctx, pollEvery, func(n string, _ int64) bool { return n != "" }); err != nil {
		t.Fatalf("no leader within %s: %v", wait, err)
	}
	return c
}

func (s *scenario) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	s.t.Cleanup(cancel)
	return ctx
}

// warmUp waits for a leader's first dispatch; the window starts at the
// next whole second but one, a tick every job's schedule has by then.
func (s *scenario) warmUp() {
	s.t.Helper()
	start := time.Now()
	node, epoch, err := s.c.WaitLeader(s.ctx(30*time.Second), pollEvery, func(n string, _ int64) bool { return n != "" })
	if err != nil {
		s.t.Fatalf("no leader within 30s: %v", err)
	}
	if _, err := s.c.WaitDispatchAfter(s.ctx(30*time.Second), pollEvery, start.Add(-time.Second)); err != nil {
		s.t.Fatalf("leader %s (epoch %d) dispatched nothing within 30s: %v", node, epoch, err)
	}
	s.from = time.Now().Truncate(time.Second).Add(2 * time.Second)
	s.t.Logf("leader %s epoch %d; window from %s", node, epoch, s.from.UTC().Format(time.RFC3339))
}

// runFor lets the cluster run for d.
func (s *scenario) runFor(d time.Duration) {
	select {
	case <-time.After(d):
	case <-s.ctx(d + time.Minute).Done():
	}
}

// atSubsecond waits until the wall clock is ms milliseconds past a whole
// second: well after that second's tick was dispatched, well before the
// next one, so a fault never lands in the middle of a dispatch transaction.
func atSubsecond(ms int) {
	now := time.Now()
	next := now.Truncate(time.Second).Add(time.Duration(ms) * time.Millisecond)
	if !next.After(now) {
		next = next.Add(time.Second)
	}
	time.Sleep(next.Sub(now))
}

// audit closes the window at the last whole second, waits until its runs
// settle (bounded), and checks every tick has exactly one row.
func (s *scenario) audit() Report {
	s.t.Helper()
	to := time.Now().Truncate(time.Second)
	p := AuditParams{Jobs: s.tickJobs(), From: s.from, To: to}
	var rep Report
	err := Poll(s.ctx(settleWait), 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		p.Now = time.Now()
		var err error
		rep, err = Audit(ctx, s.c.Store(), p)
		return err == nil && rep.Pending == 0 && rep.SilentlyMissing == 0, err
	})
	if err != nil && rep.TicksExpected == 0 {
		s.t.Fatalf("auditing: %v", err)
	}
	var b strings.Builder
	rep.Print(&b)
	s.t.Logf("audit:\n%s", b.String())
	if rep.TicksExpected < tickJobs*10 {
		s.t.Errorf("window too short: %d ticks expected", rep.TicksExpected)
	}
	if rep.Duplicates != 0 || rep.SilentlyMissing != 0 || rep.Stuck != 0 || rep.Pending != 0 || rep.OffSchedule != 0 {
		s.t.Errorf("audit not clean: duplicates %d, silently missing %d, stuck %d, still pending after %s %d, off schedule %d",
			rep.Duplicates, rep.SilentlyMissing, rep.Stuck, settleWait, rep.Pending, rep.OffSchedule)
	}
	// misfire run_all with a 1h catch-up window: every tick runs.
	if rep.Missed != 0 || rep.Skipped != 0 {
		s.t.Errorf("%d ticks recorded missed and %d skipped; with misfire run_all and catchup_window 1h every tick must run", rep.Missed, rep.Skipped)
	}
	return rep
}

func (s *scenario) tickJobs() []*jobs.Job {
	var out []*jobs.Job
	for _, j := range s.c.Jobs() {
		if strings.HasPrefix(j.Name, "tick-") {
			out = append(out, j)
		}
	}
	return out
}

// leader returns the recorded leader, which must be a running replica.
func (s *scenario) leader() (int, string, int64) {
	s.t.Helper()
	node, epoch, err := s.c.Leader(s.ctx(10 * time.Second))
	if err != nil {
		s.t.Fatal(err)
	}
	i := s.c.Index(node)
	if i < 0 || !s.c.Running(i) {
		s.t.Fatalf("recorded leader %q (epoch %d) is not a running replica", node, epoch)
	}
	return i, node, epoch
}

// (a) kill -9 the leader: a new leader dispatches within lease-ttl + 1s.
func TestKill9Leader(t *testing.T) {
	s := newScenario(t, "")
	s.runFor(5 * time.Second)
	atSubsecond(300)
	i, old, oldEpoch := s.leader()
	killAt := time.Now()
	if err := s.c.Kill9(i); err != nil {
		t.Fatal(err)
	}
	node, epoch, err := s.c.WaitLeader(s.ctx(30*time.Second), pollEvery, func(n string, e int64) bool { return n != old && e > oldEpoch })
	if err != nil {
		t.Fatalf("no new leader after killing %s: %v", old, err)
	}
	// The first row written after the kill is the new leader's: the old
	// one was killed 300ms after its last dispatch and is dead.
	first, err := s.c.WaitDispatchAfter(s.ctx(30*time.Second), pollEvery, killAt)
	if err != nil {
		t.Fatalf("nothing dispatched after killing %s: %v", old, err)
	}
	failover := first.Sub(killAt)
	bound := s.c.Options().LeaseTTL + time.Second + failoverSlack
	elected, ok, _ := s.c.ElectedAt(node, epoch)
	t.Logf("killed leader %s (epoch %d); %s leads with epoch %d; elected %s after the kill (its log), first dispatch %s after the kill (bound %s)",
		old, oldEpoch, node, epoch, since(elected, ok, killAt), failover.Round(time.Millisecond), bound)
	if failover > bound {
		t.Errorf("failover took %s: first dispatch after the kill of the leader later than lease-ttl + 1s + %s slack = %s", failover, failoverSlack, bound)
	}
	s.runFor(8 * time.Second)
	rep := s.audit()
	if rep.MaxDispatchGap > bound {
		t.Errorf("max dispatch gap %s at %s exceeds the failover bound %s", rep.MaxDispatchGap, rep.MaxDispatchGapAt, bound)
	}
}

func since(t time.Time, ok bool, from time.Time) string {
	if !ok {
		return "(not in its log)"
	}
	return t.Sub(from).Round(time.Millisecond).String()
}

// (b) SIGTERM the leader: it releases the lease and a standby leads at once.
func TestTermLeaderHandover(t *testing.T) {
	s := newScenario(t, "")
	s.runFor(5 * time.Second)
	atSubsecond(300)
	i, old, oldEpoch := s.leader()
	termAt := time.Now()
	termErr := make(chan error, 1)
	go func() { termErr <- s.c.Term(i) }()
	node, epoch, err := s.c.WaitLeader(s.ctx(30*time.Second), 5*time.Millisecond, func(n string, e int64) bool { return n != old && e > oldEpoch })
	observed := time.Since(termAt)
	if err != nil {
		<-termErr
		t.Fatalf("no new leader after SIGTERM to %s: %v", old, err)
	}
	if err := <-termErr; err != nil {
		t.Errorf("stopping the old leader: %v", err)
	}
	elected, ok, _ := s.c.ElectedAt(node, epoch)
	t.Logf("SIGTERM to leader %s (epoch %d); %s leads with epoch %d: seen in the store %s after the signal, elected %s after it (its log)",
		old, oldEpoch, node, epoch, observed.Round(time.Millisecond), since(elected, ok, termAt))
	// observed includes up to one 5ms poll; it is the conservative figure.
	if observed >= time.Second {
		t.Errorf("hand-over took %s, want under 1s", observed)
	}
	if _, err := s.c.WaitDispatchAfter(s.ctx(10*time.Second), pollEvery, termAt); err != nil {
		t.Fatalf("new leader %s dispatched nothing: %v", node, err)
	}
	s.runFor(8 * time.Second)
	s.audit()
}

// (c) lose Redis's contents mid-run: a thief takes the doorbells of two
// ticks off the queue (as if Redis had lost them) and every key of the
// cluster — the leader lease and the queue — is deleted while it does. MySQL
// is the truth (I4): the leader changes, runs go on, and every run whose
// doorbell was lost is rung again — by the new leader, which rings every
// queued run when its term starts — and runs without waiting for the
// reaper's --requeue-after.
func TestRedisKeysLost(t *testing.T) {
	s := newScenario(t, "")
	s.runFor(4 * time.Second)
	_, old, oldEpoch := s.leader()

	pool, err := redis.NewPool(s.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q, err := redis.NewQueue(pool, redis.QueueOptions{Cluster: s.prefix, Block: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	// Each replica has one BRPOP waiting at a time; 32 thieves waiting
	// beside them take nearly every doorbell.
	atSubsecond(700)
	thiefCtx, stopThieves := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var stolen []storage.QueueItem
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				items, err := q.PopMany(thiefCtx, 1)
				if err != nil {
					return
				}
				mu.Lock()
				stolen = append(stolen, items...)
				mu.Unlock()
			}
		}()
	}
	atSubsecond(300)
	lostAt := time.Now()
	// Only this cluster's keys: FLUSHALL would wipe the keys of the other
	// packages' tests that share this Redis and run in parallel.
	n, err := redistest.DeleteKeys(s.redisURL, s.prefix)
	atSubsecond(700)
	stopThieves()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("deleted no Redis key of cluster %s: the lease key at least should exist", s.prefix)
	}
	if len(stolen) == 0 {
		t.Fatal("the thieves took no doorbell in two ticks")
	}
	first, err := s.c.WaitDispatchAfter(s.ctx(30*time.Second), pollEvery, lostAt)
	if err != nil {
		t.Fatalf("nothing dispatched after the Redis keys were deleted: %v", err)
	}
	s.runFor(8 * time.Second)
	_, node, epoch := s.leader()
	t.Logf("deleted %d Redis keys, stole %d doorbells; leader %s epoch %d before, %s epoch %d after; first dispatch %s after the deletion",
		n, len(stolen), old, oldEpoch, node, epoch, first.Sub(lostAt).Round(time.Millisecond))
	s.audit()

	// Each stolen doorbell's run ran anyway, rung again at the new term's
	// start or, when the thieves took that doorbell too, by the reaper.
	var slowest time.Duration
	for _, it := range stolen {
		r, _, err := s.c.Store().GetRun(s.ctx(10*time.Second), it.RunID)
		if err != nil {
			t.Fatalf("run %d of a stolen doorbell: %v", it.RunID, err)
		}
		if r.Status != jobs.StatusSucceeded || r.StartedAt == nil {
			t.Errorf("run %d of %s, whose doorbell was stolen: %s, want succeeded", r.ID, r.Job, r.Status)
			continue
		}
		// Both times come from this machine's clock (leader and worker).
		wait := r.StartedAt.Sub(r.CreatedAt)
		slowest = max(slowest, wait)
	}
	t.Logf("all %d runs of stolen doorbells ran (slowest %s after dispatch)", len(stolen), slowest.Round(time.Millisecond))
}

var triggeredRe = regexp.MustCompile(`run (\d+)`)

// (d) kill -9 a replica while it runs an attempt: the attempt becomes lost,
// the run is retried on another replica, and the killed replica's job
// process dies with it instead of running on next to the retry.
func TestKill9WorkerMidAttempt(t *testing.T) {
	pidDir := t.TempDir()
	extra := fmt.Sprintf(`  - name: sleeper
    schedule: "0 0 0 1 1 *"
    shell: 'echo $$ > %s/$TOCK_RUN_ID.$TOCK_ATTEMPT.pid; exec sleep 30'
    timeout: 1m
    retries: 1
    retry_backoff: 0s
`, pidDir)
	s := newScenario(t, extra)
	s.runFor(4 * time.Second)
	runID := triggerRun(t, tockBinary(t), s.config, s.storeURL, "sleeper")

	var run jobs.Run
	var pid1 int
	err := Poll(s.ctx(20*time.Second), pollEvery, func(ctx context.Context) (bool, error) {
		r, _, err := s.c.Store().GetRun(ctx, runID)
		if err != nil {
			return false, err
		}
		run = r
		pid1 = readPid(pidDir, runID, 1)
		return r.Status == jobs.StatusRunning && r.Attempt == 1 && pid1 > 0, nil
	})
	if err != nil {
		t.Fatalf("run %d not running with a pid file: status %s attempt %d: %v", runID, run.Status, run.Attempt, err)
	}
	victim := s.c.Index(run.Node)
	if victim < 0 {
		t.Fatalf("run %d runs on unknown node %q", runID, run.Node)
	}
	if !ProcessAlive(pid1) {
		t.Fatalf("attempt 1's process %d is not alive before the kill", pid1)
	}
	killAt := time.Now()
	if err := s.c.Kill9(victim); err != nil {
		t.Fatal(err)
	}
	// tock-exec sees its replica's socket close: it must kill the job as tock dies.
	if err := Poll(s.ctx(5*time.Second), 10*time.Millisecond, func(context.Context) (bool, error) {
		return !ProcessAlive(pid1), nil
	}); err != nil {
		t.Fatalf("attempt 1's process %d still alive 5s after kill -9 of %s: an orphan", pid1, run.Node)
	}
	orphanGone := time.Since(killAt)

	var atts []jobs.Attempt
	var pid2 int
	err = Poll(s.ctx(30*time.Second), pollEvery, func(ctx context.Context) (bool, error) {
		r, a, err := s.c.Store().GetRun(ctx, runID)
		if err != nil {
			return false, err
		}
		run, atts = r, a
		pid2 = readPid(pidDir, runID, 2)
		return r.Status == jobs.StatusRunning && r.Attempt == 2 && len(a) == 2 && pid2 > 0, nil
	})
	if err != nil {
		t.Fatalf("run %d not retried: status %s attempt %d, attempts %+v: %v", runID, run.Status, run.Attempt, atts, err)
	}
	retriedAfter := time.Since(killAt)
	if atts[0].Status != jobs.StatusLost {
		t.Errorf("attempt 1 is %s, want lost", atts[0].Status)
	}
	if atts[0].Node != s.c.Replica(victim).Name {
		t.Errorf("attempt 1 ran on %s, want %s", atts[0].Node, s.c.Replica(victim).Name)
	}
	if atts[1].Node == atts[0].Node {
		t.Errorf("attempt 2 runs on the killed node %s", atts[1].Node)
	}
	if ProcessAlive(pid1) {
		t.Errorf("attempt 1's process %d is alive while attempt 2 runs", pid1)
	}
	if !ProcessAlive(pid2) {
		t.Errorf("attempt 2's process %d is not alive while its run is running", pid2)
	}
	t.Logf("killed %s running run %d: its job process %d gone within %s; attempt 1 %s, attempt 2 running on %s (pid %d) %s after the kill",
		atts[0].Node, runID, pid1, orphanGone.Round(time.Millisecond), atts[0].Status, atts[1].Node, pid2, retriedAfter.Round(time.Millisecond))

	// Cancel the retry rather than wait 30s: the worker stops its group.
	if _, err := s.c.Store().RequestCancel(s.ctx(10*time.Second), runID, time.Now().UTC()); err != nil {
		t.Fatalf("canceling run %d: %v", runID, err)
	}
	if err := Poll(s.ctx(20*time.Second), pollEvery, func(ctx context.Context) (bool, error) {
		r, _, err := s.c.Store().GetRun(ctx, runID)
		run = r
		return err == nil && r.Status.Terminal() && !ProcessAlive(pid2), err
	}); err != nil {
		t.Errorf("run %d not stopped after cancel: status %s, process %d alive %v: %v", runID, run.Status, pid2, ProcessAlive(pid2), err)
	}
	s.runFor(4 * time.Second)
	s.audit()
}

func readPid(dir string, run int64, attempt int) int {
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.%d.pid", run, attempt)))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// (e) stop two of three replicas (SIGTERM a standby, kill -9 the leader):
// the last one leads and runs every job.
func TestLastReplicaStanding(t *testing.T) {
	s := newScenario(t, "")
	s.runFor(5 * time.Second)
	atSubsecond(300)
	leader, old, oldEpoch := s.leader()
	standby := (leader + 1) % 3
	last := 3 - leader - standby
	if err := s.c.Term(standby); err != nil {
		t.Fatalf("stopping standby %s: %v", s.c.Replica(standby).Name, err)
	}
	atSubsecond(300)
	if err := s.c.Kill9(leader); err != nil {
		t.Fatal(err)
	}
	lastName := s.c.Replica(last).Name
	_, epoch, err := s.c.WaitLeader(s.ctx(30*time.Second), pollEvery, func(n string, e int64) bool { return n == lastName && e > oldEpoch })
	if err != nil {
		t.Fatalf("%s did not take over from %s: %v", lastName, old, err)
	}
	elected, ok, err := s.c.ElectedAt(lastName, epoch)
	if err != nil || !ok {
		t.Fatalf("%s leads with epoch %d but its log has no election: %v", lastName, epoch, err)
	}
	s.runFor(8 * time.Second)
	rep := s.audit()

	// Every tick dispatched in the last replica's term ran there.
	rows, err := ListWindow(s.ctx(30*time.Second), s.c.Store(), s.from, rep.To)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, r := range rows {
		if !strings.HasPrefix(r.Job, "tick-") || !r.CreatedAt.After(elected) {
			continue
		}
		ran++
		if r.Node != lastName || r.Status != jobs.StatusSucceeded {
			t.Errorf("run %d of %s at %s: %s on %q, want succeeded on %s", r.ID, r.Job, r.ScheduledAt.Format(time.RFC3339), r.Status, r.Node, lastName)
		}
	}
	if ran < tickJobs*5 {
		t.Errorf("only %d runs dispatched after %s took over", ran, lastName)
	}
	t.Logf("%s leads alone (epoch %d) and ran %d runs after its election", lastName, epoch, ran)
}

// (f) forged queue entries run nothing (I7), and a manual trigger of a job
// no replica defines fails with a reason.
func TestForgedQueueEntries(t *testing.T) {
	const dispatchTimeout = 10 * time.Second
	s := newScenario(t, "", "--dispatch-timeout", dispatchTimeout.String())
	s.runFor(3 * time.Second)
	st := s.c.Store()
	tick0 := s.c.Config().Job(TickJobName(0))

	// Two queued runs no replica may take, as a leader whose config differs
	// would dispatch them: tick-00 with a digest nobody has, and a job
	// nobody defines. Written with the current epoch, like that leader.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	var forged []jobs.Run
	err := Poll(s.ctx(10*time.Second), pollEvery, func(ctx context.Context) (bool, error) {
		_, epoch, err := s.c.Leader(ctx)
		if err != nil {
			return false, err
		}
		now := time.Now().UTC()
		forged, err = st.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: now, Runs: []storage.NewRun{
			{Job: tick0.Name, Digest: "forged-digest", ScheduledAt: old, Trigger: jobs.TriggerManual, Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: now, Concurrency: jobs.ConcurrencyAllow},
			{Job: "ghost", Digest: "forged-digest", ScheduledAt: old, Trigger: jobs.TriggerManual, Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: now, Concurrency: jobs.ConcurrencyAllow},
		}})
		if errors.Is(err, storage.ErrFenced) {
			return false, nil // the leader changed under us: try again
		}
		return err == nil, err
	})
	if err != nil || len(forged) != 2 {
		t.Fatalf("inserting the undefined runs: %v (%d runs)", err, len(forged))
	}
	badDigest, ghost := forged[0], forged[1]

	// A finished run of another job.
	var done jobs.Run
	rows, err := ListWindow(s.ctx(10*time.Second), st, s.from.Add(-5*time.Second), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Job == TickJobName(1) && r.Status == jobs.StatusSucceeded && r.Attempt == 1 {
			done = r
			break
		}
	}
	if done.ID == 0 {
		t.Fatalf("no succeeded run of %s yet", TickJobName(1))
	}

	pool, err := redis.NewPool(s.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q, err := redis.NewQueue(pool, redis.QueueOptions{Cluster: s.prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	items := []storage.QueueItem{
		{RunID: ghost.ID, Job: "ghost", Digest: "forged-digest"},       // an undefined job
		{RunID: badDigest.ID, Job: tick0.Name, Digest: "wrong-digest"}, // a real job, wrong digest
		{RunID: badDigest.ID, Job: tick0.Name, Digest: tick0.Digest},   // a doorbell lying about the row's digest
		{RunID: ghost.ID, Job: tick0.Name, Digest: tick0.Digest},       // a real run id, another job
		{RunID: done.ID, Job: tick0.Name, Digest: tick0.Digest},        // a finished run of another job
		{RunID: 1 << 40, Job: tick0.Name, Digest: tick0.Digest},        // no such run
	}
	// Several rounds, so that every replica's workers pop some.
	for range 5 {
		if err := q.Push(s.ctx(10*time.Second), items...); err != nil {
			t.Fatal(err)
		}
	}

	// A manual trigger of a job no replica defines: the leader fails it.
	manual, err := st.Trigger(s.ctx(10*time.Second), "ghost-manual", time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	var got jobs.Run
	if err := Poll(s.ctx(15*time.Second), pollEvery, func(ctx context.Context) (bool, error) {
		r, _, err := st.GetRun(ctx, manual.ID)
		got = r
		return err == nil && r.Status.Terminal(), err
	}); err != nil {
		t.Fatalf("manual run %d of an undefined job not failed: status %s: %v", manual.ID, got.Status, err)
	}
	if got.Status != jobs.StatusFailed || got.Attempt != 0 || !strings.Contains(got.Error, "ghost-manual") {
		t.Errorf("manual run of an undefined job: status %s, attempt %d, error %q; want failed, no attempt, an error naming the job", got.Status, got.Attempt, got.Error)
	}
	t.Logf("manual run of undefined job: %s: %s", got.Status, got.Error)

	// The undefined runs stay unclaimed until the dispatch timeout fails
	// them; none may ever get an attempt.
	for _, r := range []jobs.Run{badDigest, ghost} {
		var atts []jobs.Attempt
		err := Poll(s.ctx(dispatchTimeout+20*time.Second), pollEvery, func(ctx context.Context) (bool, error) {
			var err error
			got, atts, err = st.GetRun(ctx, r.ID)
			return err == nil && (got.Status.Terminal() || len(atts) > 0), err
		})
		if err != nil {
			t.Fatalf("run %d of %s (digest %s) not failed after the dispatch timeout: status %s: %v", r.ID, r.Job, r.Digest, got.Status, err)
		}
		if got.Status != jobs.StatusFailed || len(atts) != 0 || got.Attempt != 0 || got.Error == "" {
			t.Errorf("run %d of %s (digest %s): status %s, attempt %d, %d attempts, error %q; want failed with a reason and no attempt",
				r.ID, r.Job, r.Digest, got.Status, got.Attempt, len(atts), got.Error)
		}
		t.Logf("run %d of %s with digest %s: %s: %s", r.ID, r.Job, r.Digest, got.Status, got.Error)
	}
	after, atts, err := st.GetRun(s.ctx(10*time.Second), done.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != jobs.StatusSucceeded || after.Attempt != 1 || len(atts) != 1 {
		t.Errorf("finished run %d changed under forged doorbells: status %s, attempt %d, %d attempts", done.ID, after.Status, after.Attempt, len(atts))
	}
	s.audit()
}
