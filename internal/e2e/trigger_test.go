package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/redis/redistest"
)

// triggerScenario is a cluster running config, on a fresh database and
// Redis prefix, with the API on, started and with a leader.
func triggerScenario(t *testing.T, config string, replicas int) (*Cluster, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: multi-process tests do not run with -short")
	}
	bin := tockBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(config, "DIR", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	redisURL, prefix := redistest.New(t)
	c := startCluster(t, Options{Binary: bin, Dir: dir, Config: path, StoreURL: mysqltest.NewDatabase(t),
		RedisURL: redisURL, Cluster: prefix, Replicas: replicas, HTTP: true}, 30*time.Second)
	return c, dir
}

// tockCLI runs the tock command line and returns its stdout; a non-zero
// exit fails the test.
func tockCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tockBinary(t), args...)
	cmd.Env = ReplicaEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tock %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// backfillConfig has one job firing every second whose body appends its
// run, scheduled time and trigger to a file: what executed.
const backfillConfig = `
defaults:
  timezone: UTC
  concurrency: allow
  misfire: skip
jobs:
  - name: every-second
    schedule: "* * * * * *"
    shell: 'echo "$TOCK_RUN_ID $TOCK_SCHEDULED_AT $TOCK_ATTEMPT" >> DIR/every-second.log'
`

// TestBackfillTenThousandTicksTwice: a backfill of 10,000 ticks of an
// every-second job, run twice (once against the store, once through a
// replica's API), leaves exactly 10,000 backfill rows; the second run
// creates none and reports all 10,000 as present. The leader queues at most
// --max-concurrent of them at once; those that ran, ran once each (the
// job's file), in tick order.
func TestBackfillTenThousandTicksTwice(t *testing.T) {
	const ticks, maxConcurrent = 10_000, 4
	c, dir := triggerScenario(t, backfillConfig, 2)
	// The range ends before the cluster first saw the job: every tick in
	// it is the backfill's to create.
	to := time.Now().UTC().Truncate(time.Second).Add(-2 * time.Second)
	from := to.Add(-(ticks - 1) * time.Second)
	args := []string{"backfill", "every-second", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339),
		"--max-concurrent", strconv.Itoa(maxConcurrent)}
	// The leader writes the job's cursor when it first schedules it.
	if err := Poll(context.Background(), 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := c.Store().JobStates(ctx)
		return err == nil && !st["every-second"].Cursor.IsZero(), err
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	first := tockCLI(t, append(args, "--store", c.Options().StoreURL, "--config", c.Options().Config)...)
	t.Logf("first backfill (%s, --store):\n%s", time.Since(start).Round(time.Millisecond), first)
	if !strings.Contains(first, fmt.Sprintf(": %d ticks, backfill ", ticks)) || !strings.Contains(first, fmt.Sprintf("created %d runs", ticks)) ||
		!strings.Contains(first, "already present 0\n") {
		t.Fatalf("first backfill printed:\n%s", first)
	}
	id := regexp.MustCompile(`backfill (\d+)`).FindStringSubmatch(first)[1]

	start = time.Now()
	second := tockCLI(t, append(args, "--server", "http://"+c.Replica(1).HTTPAddr())...)
	t.Logf("second backfill (%s, --server):\n%s", time.Since(start).Round(time.Millisecond), second)
	if !strings.Contains(second, "backfill "+id+"\n") || !strings.Contains(second, "created 0 runs") ||
		!strings.Contains(second, fmt.Sprintf("already present %d (", ticks)) {
		t.Fatalf("second backfill printed:\n%s", second)
	}

	// Exactly one row per tick, all of the backfill.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := ListWindow(ctx, c.Store(), from, to.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	byTick := map[int64]int{}
	for _, r := range rows {
		if r.Job != "every-second" {
			continue
		}
		if r.Trigger != jobs.TriggerBackfill || strconv.FormatInt(r.BackfillID, 10) != id {
			t.Fatalf("row %d in the range: trigger %s, backfill %d", r.ID, r.Trigger, r.BackfillID)
		}
		byTick[r.ScheduledAt.Unix()]++
	}
	if len(byTick) != ticks {
		t.Fatalf("%d ticks have a row, want %d", len(byTick), ticks)
	}
	for at, n := range byTick {
		if n != 1 {
			t.Fatalf("tick %s has %d rows", time.Unix(at, 0).UTC(), n)
		}
	}

	// The leader queues them in tick order, at most maxConcurrent at once.
	const sample = 40
	var active, done []jobs.Run
	err = Poll(ctx, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		active, done = nil, nil
		for _, st := range []jobs.RunStatus{jobs.StatusQueued, jobs.StatusRunning, jobs.StatusSucceeded} {
			rs, err := c.Store().ListRuns(ctx, storage.RunFilter{Job: "every-second", Trigger: jobs.TriggerBackfill, Status: st, Limit: 1000})
			if err != nil {
				return false, err
			}
			if st == jobs.StatusSucceeded {
				done = rs
			} else {
				active = append(active, rs...)
			}
		}
		if len(active) > maxConcurrent {
			return false, fmt.Errorf("%d backfill runs queued or running at once, max %d", len(active), maxConcurrent)
		}
		return len(done) >= sample, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range done {
		if r.ScheduledAt.After(from.Add(time.Duration(len(done)+maxConcurrent) * time.Second)) {
			t.Errorf("run %d of tick %s finished among the first %d: not in tick order", r.ID, r.ScheduledAt, len(done))
		}
	}
	// Ground truth: each finished backfill run's body ran once.
	log, err := os.ReadFile(filepath.Join(dir, "every-second.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 {
			lines[f[0]]++
		}
	}
	for _, r := range done {
		if n := lines[strconv.FormatInt(r.ID, 10)]; n != 1 {
			t.Errorf("succeeded backfill run %d (tick %s) ran %d times", r.ID, r.ScheduledAt, n)
		}
	}
}

// onceConfig has a job that never fires by itself; its body appends its
// run id to a file.
const onceConfig = `
defaults:
  timezone: UTC
jobs:
  - name: once
    schedule: "0 0 1 1 *"
    shell: 'echo "$TOCK_RUN_ID $TOCK_PARAM_WHO" >> DIR/once.log'
    params:
      - {name: who, default: nobody}
`

// TestTriggerAtSurvivesLeaderKill: a run triggered for a few seconds
// later waits in the store; the leader is killed -9 before it is due; the
// next leader starts it once, not before it is due, with its params. A
// second run triggered for later and canceled while it waits never runs.
func TestTriggerAtSurvivesLeaderKill(t *testing.T) {
	c, dir := triggerScenario(t, onceConfig, 3)
	storeFlags := []string{"--store", c.Options().StoreURL, "--config", c.Options().Config}
	runRE := regexp.MustCompile(`run (\d+), due (\S+)`)
	out := tockCLI(t, append([]string{"trigger", "once", "--at", "+8s", "--param", "who=alice"}, storeFlags...)...)
	m := runRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("trigger --at printed %q", out)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	due, err := time.Parse(time.RFC3339, m[2])
	if err != nil {
		t.Fatal(err)
	}
	doomedOut := tockCLI(t, append([]string{"trigger", "once", "--at", "+8s"}, storeFlags...)...)
	doomed := runRE.FindStringSubmatch(doomedOut)[1]
	if c := tockCLI(t, append([]string{"cancel", doomed}, storeFlags...)...); !strings.Contains(c, "canceled") {
		t.Fatalf("cancel of the waiting run printed %q", c)
	}
	if l := tockCLI(t, append([]string{"runs", "--job", "once", "--status", "scheduled"}, storeFlags...)...); !strings.Contains(l, m[1]+"  ") {
		t.Errorf("tock runs does not list the waiting run %s:\n%s", m[1], l)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node, epoch, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill9(c.Index(node)); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed leader %s (epoch %d) %s before run %d is due", node, epoch, time.Until(due).Round(time.Millisecond), id)
	if r, _, err := c.Store().GetRun(ctx, id); err != nil || r.Status != jobs.StatusScheduled {
		t.Fatalf("run %d after the kill: %s, %v; want still scheduled", id, r.Status, err)
	}
	var run jobs.Run
	var atts []jobs.Attempt
	if err := Poll(ctx, pollEvery, func(ctx context.Context) (bool, error) {
		var err error
		run, atts, err = c.Store().GetRun(ctx, id)
		return err == nil && run.Status.Terminal(), err
	}); err != nil {
		t.Fatalf("run %d did not finish: %s: %v", id, run.Status, err)
	}
	newLeader, newEpoch, _ := c.Leader(ctx)
	if run.Status != jobs.StatusSucceeded || len(atts) != 1 || atts[0].StartedAt.Before(run.ScheduledAt) || atts[0].Epoch != newEpoch {
		t.Fatalf("run %d: %s, %d attempts, started %v (due %s), epoch %d (leader %s has %d)", id, run.Status, len(atts),
			atts, due, atts[0].Epoch, newLeader, newEpoch)
	}
	if run.Params["who"] != "alice" {
		t.Errorf("run params = %v, want who=alice", run.Params)
	}
	// Let a double start show, if there were one.
	time.Sleep(2 * time.Second)
	log, err := os.ReadFile(filepath.Join(dir, "once.log"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(log)); got != m[1]+" alice" {
		t.Errorf("once.log = %q, want exactly one line %q (the canceled run %s must not run)", got, m[1]+" alice", doomed)
	}
	t.Logf("run %d due %s started %s on %s by leader %s (epoch %d)", id, due.Format(time.RFC3339), atts[0].StartedAt.Format(time.RFC3339Nano), atts[0].Node, newLeader, newEpoch)
}
