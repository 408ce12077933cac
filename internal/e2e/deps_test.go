package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/redis/redistest"
)

// depsConfig: up and up2 tick every 2 s; single follows up, fanin joins
// up and up2 per tick, chained follows single (a chain of dependency
// runs). Every body appends its run id to a file of its own: the ground
// truth of what ran. A third of up's runs fail: their single and fanin
// rows, and chained's row after the skipped single, are skipped.
const depsConfig = `
defaults:
  concurrency: allow
  misfire: run_all
  catchup_window: 1h
jobs:
  - name: up
    schedule: "*/2 * * * * *"
    shell: 'sleep 0.7; echo "$TOCK_RUN_ID" >> DIR/up.log; [ $((TOCK_RUN_ID % 3)) -ne 0 ]'
  - name: up2
    schedule: "*/2 * * * * *"
    shell: 'echo "$TOCK_RUN_ID" >> DIR/up2.log'
  - name: single
    after: [up]
    shell: 'echo "$TOCK_RUN_ID" >> DIR/single.log'
  - name: fanin
    after: [up, {job: up2, on: completed}]
    shell: 'echo "$TOCK_RUN_ID" >> DIR/fanin.log'
  - name: chained
    after: [single]
    shell: 'echo "$TOCK_RUN_ID" >> DIR/chained.log'
`

// TestDependentsExactlyOnceThroughLeaderKills: two scheduler replicas and
// one worker replica; the leader is killed with SIGKILL around the moment
// an upstream run finishes, several times. Every upstream run in the window
// must have exactly one row of each dependent in history, linked to it,
// and every dependent run that succeeded must have run exactly once
// (its id once in its file); nothing else ran.
func TestDependentsExactlyOnceThroughLeaderKills(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: multi-process tests do not run with -short")
	}
	bin := tockBinary(t)
	dir := t.TempDir()
	storeURL := mysqltest.NewDatabase(t)
	redisURL, prefix := redistest.New(t)
	cfgPath := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(depsConfig, "DIR", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The leader's replica runs no worker, so killing it never kills a
	// job body: what the files hold is what ran, once per attempt.
	sched := ReplicaOptions{Args: []string{"--role", "scheduler"}}
	c := startCluster(t, Options{Binary: bin, Dir: dir, Config: cfgPath, StoreURL: storeURL,
		RedisURL: redisURL, Cluster: prefix, Replicas: 3,
		PerReplica: []ReplicaOptions{sched, sched, {Args: []string{"--role", "worker"}}}}, 2*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	from := time.Now().Truncate(time.Second).Add(2 * time.Second)
	st := c.Store()

	const rounds = 4
	var last int64
	for round := range rounds {
		// Wait for a run of up to start; its body ends ~0.7 s later.
		var running jobs.Run
		err := Poll(ctx, pollEvery, func(ctx context.Context) (bool, error) {
			runs, err := st.ListRuns(ctx, storage.RunFilter{Job: "up", Status: jobs.StatusRunning, Limit: 1})
			if err != nil || len(runs) == 0 || runs[0].StartedAt == nil || runs[0].ID <= last {
				return false, err
			}
			running, last = runs[0], runs[0].ID
			return true, nil
		})
		if err != nil {
			t.Fatalf("round %d: no run of up started: %v", round, err)
		}
		// Kill at 0.55–0.85 s after its start: just before, as or just
		// after it finishes.
		kill := running.StartedAt.Add(550*time.Millisecond + rand.N(300*time.Millisecond))
		time.Sleep(time.Until(kill))
		node, _, err := c.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := c.Index(node)
		if i < 0 || !c.Running(i) {
			t.Fatalf("round %d: recorded leader %q is not a running replica", round, node)
		}
		if err := c.Kill9(i); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed leader %s %s after run %d started", round, node, time.Since(*running.StartedAt).Round(time.Millisecond), running.ID)
		if _, _, err := c.WaitLeader(ctx, pollEvery, func(n string, _ int64) bool { return n != "" && n != node }); err != nil {
			t.Fatalf("round %d: no new leader: %v", round, err)
		}
		if err := c.Start(i); err != nil {
			t.Fatal(err)
		}
	}
	to := time.Now().Truncate(time.Second).Add(-2 * time.Second)

	// Settle: every upstream run of the window ended and has its rows.
	var ups, ups2 []jobs.Run
	err := Poll(ctx, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		if ups, err = window(ctx, st, "up", from, to); err != nil {
			return false, err
		}
		if ups2, err = window(ctx, st, "up2", from, to); err != nil {
			return false, err
		}
		for _, r := range ups {
			if !r.Status.Terminal() {
				return false, nil
			}
			full, _, err := st.GetRun(ctx, r.ID)
			if err != nil {
				return false, err
			}
			if len(full.DownstreamRuns) < 2 { // single and fanin
				return false, nil
			}
		}
		for _, job := range []string{"single", "fanin", "chained"} {
			runs, err := st.ListRuns(ctx, storage.RunFilter{Job: job, Limit: 1000})
			if err != nil {
				return false, err
			}
			for _, r := range runs {
				if !r.Status.Terminal() {
					return false, nil
				}
				if job == "single" {
					// Its own dependent (chained) must be decided too.
					full, _, err := st.GetRun(ctx, r.ID)
					if err != nil || len(full.DownstreamRuns) == 0 {
						return false, err
					}
				}
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("history did not settle: %v (%d runs of up)", err, len(ups))
	}
	if len(ups) < rounds {
		t.Fatalf("only %d runs of up in the window", len(ups))
	}
	failed := 0
	for _, u := range ups {
		if u.Status != jobs.StatusSucceeded {
			failed++
		}
	}
	byTick2 := map[int64]jobs.Run{}
	for _, r := range ups2 {
		byTick2[r.ScheduledAt.UnixMicro()] = r
	}

	ran := map[string]map[int64]int{}
	for _, job := range []string{"single", "fanin", "chained"} {
		ran[job] = readIDs(t, filepath.Join(dir, job+".log"))
	}
	// followers returns the rows of job that follow run id.
	followers := func(id int64, job string) []jobs.Run {
		full, _, err := st.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var out []jobs.Run
		for _, d := range full.DownstreamRuns {
			r, _, err := st.GetRun(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if r.Job == job {
				out = append(out, r)
			}
		}
		return out
	}
	// checkOnce: one row, the right outcome, and a succeeded row's id
	// exactly once in its job's file.
	checkOnce := func(what string, rows []jobs.Run, job string, shouldRun bool, ups []int64) *jobs.Run {
		t.Helper()
		if len(rows) != 1 {
			t.Errorf("%s: %d rows of %s, want exactly 1: %+v", what, len(rows), job, rows)
			return nil
		}
		r := rows[0]
		if r.Trigger != jobs.TriggerDependency || fmt.Sprint(r.UpstreamRuns) != fmt.Sprint(ups) {
			t.Errorf("%s: row %d of %s has trigger %s, upstreams %v; want dependency, %v", what, r.ID, job, r.Trigger, r.UpstreamRuns, ups)
		}
		switch {
		case shouldRun && (r.Status != jobs.StatusSucceeded || ran[job][r.ID] != 1):
			t.Errorf("%s: row %d of %s is %s and ran %d times, want succeeded once", what, r.ID, job, r.Status, ran[job][r.ID])
		case !shouldRun && (r.Status != jobs.StatusSkipped || ran[job][r.ID] != 0):
			t.Errorf("%s: row %d of %s is %s and ran %d times, want skipped, never run", what, r.ID, job, r.Status, ran[job][r.ID])
		}
		delete(ran[job], r.ID)
		return &r
	}
	var rows int
	for _, u := range ups {
		what := fmt.Sprintf("up run %d (%s, %s)", u.ID, u.ScheduledAt.UTC().Format("15:04:05"), u.Status)
		ok := u.Status == jobs.StatusSucceeded
		s := checkOnce(what, followers(u.ID, "single"), "single", ok, []int64{u.ID})
		if s != nil {
			checkOnce(what+" → single "+strconv.FormatInt(s.ID, 10), followers(s.ID, "chained"), "chained", ok, []int64{s.ID})
		}
		u2, has := byTick2[u.ScheduledAt.UnixMicro()]
		if !has {
			t.Errorf("%s: up2 has no run of the same tick", what)
			continue
		}
		checkOnce(what+" + up2", followers(u.ID, "fanin"), "fanin", ok && u2.Attempt > 0, []int64{u.ID, u2.ID})
		rows += 3
	}
	// What is left in the files ran for upstream runs outside the window
	// (before it, or after it, still settling): once each, and only for
	// runs whose chain starts outside the window.
	for job, left := range ran {
		for id, n := range left {
			root, err := rootOf(ctx, st, id)
			if err != nil {
				t.Errorf("%s ran run %d: %v", job, id, err)
				continue
			}
			// window's range is [from, to), as RunFilter's.
			if n != 1 || !root.ScheduledAt.Before(from) && root.ScheduledAt.Before(to) {
				t.Errorf("%s run %d (root run %d of %s at %s) ran %d times outside the audit", job, id, root.ID, root.Job,
					root.ScheduledAt.Format(time.RFC3339Nano), n)
			}
		}
	}
	t.Logf("%d runs of up (%d not succeeded) in %s, %d dependent rows audited through %d leader kills", len(ups), failed, to.Sub(from), rows, rounds)
}

// rootOf follows a dependency run's first upstream to the run that
// started its chain.
func rootOf(ctx context.Context, st storage.Store, id int64) (jobs.Run, error) {
	for range 10 {
		r, _, err := st.GetRun(ctx, id)
		if err != nil {
			return jobs.Run{}, err
		}
		if r.Trigger != jobs.TriggerDependency {
			return r, nil
		}
		if len(r.UpstreamRuns) == 0 {
			return r, fmt.Errorf("dependency run %d has no upstream runs", id)
		}
		id = r.UpstreamRuns[0]
	}
	return jobs.Run{}, fmt.Errorf("run %d: chain longer than 10", id)
}

// window lists job's runs with scheduled_at in [from, to).
func window(ctx context.Context, st storage.Store, job string, from, to time.Time) ([]jobs.Run, error) {
	return st.ListRuns(ctx, storage.RunFilter{Job: job, Since: from, Until: to, Limit: 10000})
}

// readIDs counts the run ids a job body appended to path.
func readIDs(t *testing.T, path string) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, err := strconv.ParseInt(strings.TrimSpace(sc.Text()), 10, 64)
		if err != nil {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		out[id]++
	}
	return out
}
