package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/replica"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
)

// embeddedConfig: a job per misfire policy firing every second, and a long
// job whose attempt is interrupted by kill -9.
const embeddedConfig = `
defaults: {concurrency: allow, catchup_window: 1h, timeout: 1m}
jobs:
  - {name: every-all, schedule: "* * * * * *", command: ["true"], misfire: run_all}
  - {name: every-once, schedule: "* * * * * *", command: ["true"], misfire: run_once}
  - {name: every-skip, schedule: "* * * * * *", command: ["true"], misfire: skip}
  - name: long
    schedule: "@yearly"
    shell: "echo $$ > \"$PID_DIR/$TOCK_RUN_ID.$TOCK_ATTEMPT.pid\"; exec sleep 30"
    env: {PID_DIR: "PIDDIR"}
    retries: 1
    retry_backoff: 0s
`

// TestEmbeddedKill9AndRestart runs tock on the embedded SQLite store, kills
// it with -9 during an attempt, keeps it down past the on-time bound, and
// starts it again: the interrupted run is recovered and retried, its job
// process died with tock, and every tick of the downtime is in history per
// its job's misfire policy.
func TestEmbeddedKill9AndRestart(t *testing.T) {
	bin := tockBinary(t)
	dir := t.TempDir()
	pidDir := filepath.Join(dir, "pids")
	if err := os.Mkdir(pidDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tock.yaml")
	cfgText := []byte(strings.ReplaceAll(embeddedConfig, "PIDDIR", pidDir))
	if err := os.WriteFile(cfgPath, cfgText, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := jobfile.Parse(cfgPath, cfgText)
	if err != nil {
		t.Fatal(err)
	}
	storeURL := "sqlite:" + filepath.Join(dir, "tock.db")
	start := func(name string) *exec.Cmd {
		log, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "-c", cfgPath, "--store", storeURL, "--node", "solo", "--listen", "", "--shutdown-grace", "2s")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			log.Close()
			if t.Failed() {
				b, _ := os.ReadFile(log.Name())
				t.Logf("%s log:\n%s", name, tail(string(b), 40))
			}
		})
		return cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := start("first")
	from := time.Now().Truncate(time.Second).Add(2 * time.Second)
	st := openWhenReady(t, ctx, storeURL)
	defer st.Close()
	trig := exec.Command(bin, "trigger", "-c", cfgPath, "--store", storeURL, "long")
	if out, err := trig.CombinedOutput(); err != nil {
		t.Fatalf("tock trigger: %v\n%s", err, out)
	}
	long := waitRun(t, ctx, st, "long", func(r jobs.Run) bool { return r.Status == jobs.StatusRunning })
	pid1 := waitPid(t, ctx, pidDir, long.ID, 1)
	time.Sleep(1500 * time.Millisecond) // let a few ticks run before the crash

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	killedAt := time.Now()
	waitGone(t, pid1)

	// Down for 8 s: longer than the 5 s a tick may be late and still run
	// as scheduled, so the misfire policies decide.
	time.Sleep(time.Until(killedAt.Add(8 * time.Second)))
	second := start("second")
	long = waitRun(t, ctx, st, "long", func(r jobs.Run) bool { return r.Attempt == 2 && r.Status == jobs.StatusRunning })
	run, atts, err := st.GetRun(ctx, long.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 2 || atts[0].Status != jobs.StatusLost || atts[1].Status != jobs.StatusRunning {
		t.Fatalf("long run %d after restart: %s with attempts %+v; want attempt 1 lost, 2 running", run.ID, run.Status, atts)
	}
	time.Sleep(3 * time.Second)
	to := time.Now().Truncate(time.Second).Add(-2 * time.Second)

	// Graceful stop: the grace (2s) ends before the 30 s sleep does, so the
	// attempt is canceled and recorded; nothing is left running.
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("tock after SIGTERM: %v", err)
	}
	waitGone(t, waitPid(t, ctx, pidDir, long.ID, 2))
	if run, _, _ = st.GetRun(ctx, long.ID); run.Status != jobs.StatusCanceled {
		t.Fatalf("long run after SIGTERM: %s, want canceled", run.Status)
	}
	for _, status := range []jobs.RunStatus{jobs.StatusRunning, jobs.StatusScheduled} {
		if left, _ := st.ListRuns(ctx, storage.RunFilter{Status: status, Limit: 10}); len(left) > 0 {
			t.Errorf("%d runs left %s after shutdown: %+v", len(left), status, left)
		}
	}

	rep, err := Audit(ctx, st, AuditParams{Jobs: cfg.Jobs[:3], From: from, To: to, Now: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Duplicates != 0 || rep.SilentlyMissing != 0 || rep.OffSchedule != 0 {
		t.Fatalf("history over the crash is not one row per tick: %+v", rep)
	}
	// Each policy over the downtime: ticks more than 5 s late when the
	// restarted tock planned them are misfires.
	count := func(job string, trig jobs.Trigger, status jobs.RunStatus) int {
		rs, err := st.ListRuns(ctx, storage.RunFilter{Job: job, Trigger: trig, Status: status, Since: from, Until: to, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	if n := count("every-all", jobs.TriggerCatchup, ""); n < 2 {
		t.Errorf("run_all: %d catch-up runs, want every misfired tick (≥ 2)", n)
	}
	if n := count("every-all", "", jobs.StatusMissed); n != 0 {
		t.Errorf("run_all: %d missed rows, want 0", n)
	}
	if n := count("every-once", jobs.TriggerCatchup, jobs.StatusMissed); n < 1 {
		t.Errorf("run_once: %d missed rows, want the misfires but the newest", n)
	}
	if runs := count("every-once", jobs.TriggerCatchup, "") - count("every-once", jobs.TriggerCatchup, jobs.StatusMissed); runs != 1 {
		t.Errorf("run_once: %d catch-up runs, want 1", runs)
	}
	if n := count("every-skip", jobs.TriggerCatchup, jobs.StatusMissed); n < 2 {
		t.Errorf("skip: %d missed rows, want every misfired tick (≥ 2)", n)
	}
	if count("every-all", jobs.TriggerCatchup, "") != count("every-skip", jobs.TriggerCatchup, jobs.StatusMissed) {
		t.Errorf("run_all and skip saw different misfired ticks")
	}
	t.Logf("audit over %s … %s: %d ticks, %d rows, %d missed; down %s", from.Format(time.TimeOnly), to.Format(time.TimeOnly),
		rep.TicksExpected, rep.Rows, rep.Missed, 8*time.Second)
}

func tail(s string, n int) string {
	lines := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			lines++
			if lines > n {
				return s[i+1:]
			}
		}
	}
	return s
}

// openWhenReady opens the embedded store once tock has created it.
func openWhenReady(t *testing.T, ctx context.Context, url string) storage.Store {
	t.Helper()
	for {
		st, err := replica.OpenStore(ctx, url, nil)
		if err == nil {
			if _, _, err = st.Leader(ctx); err == nil {
				return st
			}
			st.Close()
		}
		if ctx.Err() != nil {
			t.Fatalf("store %s never became ready: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond) // polling another process's startup
	}
}

// waitRun polls history until the newest run of job satisfies ok.
func waitRun(t *testing.T, ctx context.Context, st storage.Store, job string, ok func(jobs.Run) bool) jobs.Run {
	t.Helper()
	for {
		rs, err := st.ListRuns(ctx, storage.RunFilter{Job: job, Limit: 1})
		if err == nil && len(rs) == 1 && ok(rs[0]) {
			return rs[0]
		}
		if ctx.Err() != nil {
			t.Fatalf("waiting for a run of %s: %v (last %+v)", job, ctx.Err(), rs)
		}
		time.Sleep(50 * time.Millisecond) // polling another process's writes
	}
}

// waitPid waits for the pid file a job attempt writes.
func waitPid(t *testing.T, ctx context.Context, dir string, run int64, attempt int) int {
	t.Helper()
	for {
		if pid := readPid(dir, run, attempt); pid > 0 {
			return pid
		}
		if ctx.Err() != nil {
			t.Fatalf("attempt %d of run %d never wrote its pid", attempt, run)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone fails unless pid exits within a few seconds.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if !ProcessAlive(pid) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job process %d outlived tock", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
