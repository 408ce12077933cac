package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/redis/redistest"
)

// Short versions of the fault kit's scenarios (RunFault; the full kit is
// `make faults`). Each runs three real replicas of a tockfault build,
// every one behind fault proxies of its own, and audits the jobs' own
// record of their executions against history; each takes 30-45s. They run
// one at a time like the other tests here: they measure lateness and
// failover, which two clusters on a 2-core machine would distort.
//
// They describe what tock must do, not what it does today: on the code
// they were written against, they fail (see RELIABILITY.md, "Fault kit").

var (
	faultBuildOnce sync.Once
	faultBinDir    string
	faultBin       string
	faultBuildErr  error
)

// tockFaultBinary builds tock with the tockfault tag once per test process.
func tockFaultBinary(t *testing.T) string {
	t.Helper()
	faultBuildOnce.Do(func() {
		if faultBinDir, faultBuildErr = os.MkdirTemp("", "tock-e2e-fault-"); faultBuildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		faultBin, faultBuildErr = BuildTockWith(ctx, faultBinDir, BuildOptions{Tags: []string{FaultTag}})
	})
	if faultBuildErr != nil {
		t.Fatalf("building tock with -tags %s: %v", FaultTag, faultBuildErr)
	}
	return faultBin
}

// runFaultTest runs scenario name (changed by mod) with short steady times
// on a database and Redis prefix of the test's own, logs the full report
// and fails the test with every requirement missed.
func runFaultTest(t *testing.T, name string, before, after time.Duration, mod func(*FaultScenario)) *FaultResult {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: multi-process tests do not run with -short")
	}
	sc, ok := FaultScenarioNamed(name)
	if !ok {
		t.Fatalf("no fault scenario %q", name)
	}
	if mod != nil {
		mod(&sc)
	}
	bin := tockFaultBinary(t)
	dir := t.TempDir()
	storeURL := mysqltest.NewDatabase(t)
	redisURL, prefix := redistest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := RunFault(ctx, sc, FaultEnv{
		Binary: bin, Dir: dir, StoreURL: storeURL, RedisURL: redisURL, Cluster: prefix,
		Before: before, After: after, SettleWait: 25 * time.Second, Logf: t.Logf,
		// The suite runs packages side by side on two cores: it judges
		// the counts; make faults judges timing on a quiet machine.
		CountsOnly: true,
	})
	if err != nil {
		tailLogs(t, dir)
		t.Fatalf("scenario %s: %v", sc.Name, err)
	}
	var b strings.Builder
	res.Print(&b)
	t.Logf("report:\n%s\n%s\n%s", b.String(), FaultTableHeader(), res.TableRow())
	for _, f := range res.Failures {
		t.Errorf("%s: %s", sc.Name, f)
	}
	if t.Failed() {
		tailLogs(t, dir)
	}
	return res
}

// tailLogs logs the last lines of every replica log in dir.
func tailLogs(t *testing.T, dir string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "node-*.log"))
	var b strings.Builder
	for _, p := range logs {
		lines, err := tailFile(p, 25)
		if err != nil {
			continue
		}
		b.WriteString("----- " + filepath.Base(p) + " -----\n")
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	t.Logf("replica logs:\n%s", b.String())
}

// A worker frozen (SIGSTOP) for twice the attempt lease while it holds runs
// claimed ahead: their attempts are reaped and run elsewhere; when it is
// thawed it must not start them (no start after the lease deadline or the
// reap, no duplicate execution).
func TestFaultFreezeWorkerBeyondAttemptLease(t *testing.T) {
	runFaultTest(t, "freeze-worker", 2*time.Second, 4*time.Second, nil)
}

// The leader's MariaDB blackholed (no answer, no reset): a new leader must
// take over and dispatch during the cut (within lease-ttl + 1s is judged by
// make faults), with no duplicate and no start after a lease.
func TestFaultMySQLBlackholeLeader(t *testing.T) {
	runFaultTest(t, "mysql-blackhole-leader", 2*time.Second, 5*time.Second, func(s *FaultScenario) { s.Down = 6 * time.Second })
}

// A worker that cannot reach Redis: every tick runs once, none is lost or
// stuck (that no run waits behind later ticks is judged by make faults).
func TestFaultRedisRefuseWorker(t *testing.T) {
	runFaultTest(t, "redis-refuse-worker", 2*time.Second, 4*time.Second, func(s *FaultScenario) { s.Down = 6 * time.Second })
}

// Redis refused to every replica: the leader goes on leading on the
// store's lease row, workers claim due runs from the store; every tick runs
// once, none is lost or stuck, and none is duplicated when Redis returns
// (start lateness p99 within the poll bound is judged by make faults).
func TestFaultRedisRefuseAll(t *testing.T) {
	runFaultTest(t, "redis-refuse-all", 2*time.Second, 5*time.Second, func(s *FaultScenario) { s.Down = 10 * time.Second })
}

// A worker that reaches Redis but not MariaDB hands the doorbells it cannot
// claim back: every tick runs once, none is lost or stuck (that none waits
// behind later ticks is judged by make faults).
func TestFaultMySQLRefuseWorker(t *testing.T) {
	runFaultTest(t, "mysql-refuse-worker", 2*time.Second, 4*time.Second, func(s *FaultScenario) { s.Down = 6 * time.Second })
}

// A leader whose clock is 3s off either way: no run lost, early, or started
// after its lease (start lateness p99 <= 250ms is judged by make faults).
func TestFaultSkewLeader(t *testing.T) {
	for _, name := range []string{"skew+3s-leader", "skew-3s-leader"} {
		t.Run(name, func(t *testing.T) {
			runFaultTest(t, name, 3*time.Second, 5*time.Second, nil)
		})
	}
}

// The kit's scenario list and table are consistent (no processes).
func TestFaultScenarioList(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range FaultScenarios() {
		if seen[s.Name] {
			t.Errorf("scenario %s listed twice", s.Name)
		}
		seen[s.Name] = true
		if got, ok := FaultScenarioNamed(s.Name); !ok || got != s {
			t.Errorf("FaultScenarioNamed(%q) = %+v, %v", s.Name, got, ok)
		}
		if s.Kind != FaultNone && s.Kind != FaultSkew && s.down() <= FaultAttemptLease {
			t.Errorf("%s lasts %s, not beyond the attempt lease", s.Name, s.down())
		}
	}
	for _, n := range []string{"baseline", "freeze-leader", "freeze-worker", "redis-refuse-worker", "redis-blackhole-leader",
		"mysql-refuse-worker", "mysql-blackhole-leader", "skew+3s-leader", "skew-3s-leader", "skew+3s-worker", "skew-3s-worker"} {
		if !seen[n] {
			t.Errorf("no scenario %s", n)
		}
	}
	header := strings.Split(FaultTableHeader(), "\n")
	r := &FaultResult{Scenario: FaultScenario{Name: "x"}, Target: "node-1"}
	if cols, want := strings.Count(r.TableRow(), "|"), strings.Count(header[0], "|"); cols != want || strings.Count(header[1], "|") != want {
		t.Errorf("row has %d separators, header %d", cols, want)
	}
	u, err := proxied("mysql://root:pw@127.0.0.1:3306/db?x=1", "127.0.0.1:4242")
	if err != nil || u != "mysql://root:pw@127.0.0.1:4242/db?x=1" {
		t.Errorf("proxied URL %q, %v", u, err)
	}
}
