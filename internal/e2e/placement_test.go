package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/redis/redistest"
)

// placementNodeAlive is the clusters' --node-alive: short, so that a
// killed replica stops getting shards within seconds.
const placementNodeAlive = 8 * time.Second

// newPlacementCluster starts len(labels) replicas running config, replica
// i with --labels labels[i], on a fresh database and Redis prefix, and
// waits until every replica published its node record and a leader
// leads. Cleanup as newScenario's.
func newPlacementCluster(t *testing.T, config string, labels []string, args ...string) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: multi-process tests do not run with -short")
	}
	bin := tockBinary(t)
	dir := t.TempDir()
	storeURL := mysqltest.NewDatabase(t)
	redisURL, prefix := redistest.New(t)
	path := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	per := make([]ReplicaOptions, len(labels))
	for i, l := range labels {
		per[i].Args = []string{"--labels", l}
	}
	c := startCluster(t, Options{
		Binary: bin, Dir: dir, Config: path, StoreURL: storeURL, RedisURL: redisURL, Cluster: prefix,
		Replicas: len(labels), PerReplica: per, Args: append([]string{"--node-alive", placementNodeAlive.String()}, args...),
	}, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Poll(ctx, pollEvery, func(ctx context.Context) (bool, error) {
		nodes, err := c.Store().Nodes(ctx, time.Now().Add(-placementNodeAlive/2))
		return len(nodes) == len(labels), err
	})
	if err != nil {
		t.Fatalf("not every replica published its node record: %v", err)
	}
	return c
}

// execLine is one line a job body appended to its log: what it did,
// where, for which run, tick and shard.
type execLine struct {
	what, node            string
	run                   int64
	attempt, shard, total int
	tick                  string
}

// readExecLines reads the lines job bodies appended to path: "what node
// run attempt tick shard total".
func readExecLines(t *testing.T, path string) []execLine {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []execLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l execLine
		if _, err := fmt.Sscanf(sc.Text(), "%s %s %d %d %s %d %d", &l.what, &l.node, &l.run, &l.attempt, &l.tick, &l.shard, &l.total); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, sc.Text(), err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// execBody is a shell body appending "<what> node run attempt tick shard
// total" lines to log, what being start before sleep and done after it.
func execBody(log string, sleep string) string {
	line := `$TOCK_E2E_REPLICA $TOCK_RUN_ID $TOCK_ATTEMPT $TOCK_SCHEDULED_AT ${TOCK_SHARD_INDEX:-0} ${TOCK_SHARD_TOTAL:-0}`
	if sleep == "" {
		return fmt.Sprintf(`echo "done %s" >> %s`, line, log)
	}
	return fmt.Sprintf(`echo "start %s" >> %s; sleep %s; echo "done %s" >> %s`, line, log, sleep, line, log)
}

// listRuns returns every run of job, oldest first.
func listRuns(ctx context.Context, st storage.Store, job string) ([]jobs.Run, error) {
	var out []jobs.Run
	f := storage.RunFilter{Job: job, Limit: 1000}
	for {
		page, err := st.ListRuns(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.Before = &storage.Cursor{ScheduledAt: last.ScheduledAt, ID: last.ID}
	}
	slices.Reverse(out)
	return out, nil
}

// TestLabelPinnedJobs: three replicas with different labels; jobs pinned
// by labels run only on replicas carrying them — checked from what the
// job bodies report (the replica's own environment), not only from
// history — and a job no replica matches fails after the dispatch timeout
// with a reason naming its labels.
func TestLabelPinnedJobs(t *testing.T) {
	dir := t.TempDir()
	logA, logGPU := filepath.Join(dir, "zone-a.log"), filepath.Join(dir, "gpu.log")
	config := fmt.Sprintf(`defaults: {timeout: 30s, concurrency: allow, misfire: run_all}
jobs:
  - name: zone-a
    schedule: "* * * * * *"
    shell: '%s'
    run_on: {labels: {zone: a}}
  - name: gpu
    schedule: "* * * * * *"
    shell: '%s'
    run_on: {labels: {zone: a, gpu: "true"}}
  - name: nowhere
    schedule: "*/2 * * * * *"
    shell: 'true'
    run_on: {labels: {zone: z}}
`, execBody(logA, ""), execBody(logGPU, ""))
	c := newPlacementCluster(t, config, []string{"zone=a", "zone=b", "zone=a,gpu=true"}, "--dispatch-timeout", "3s")
	may := map[string][]string{"zone-a": {"node-1", "node-3"}, "gpu": {"node-3"}}
	from := time.Now()
	time.Sleep(8 * time.Second)
	to := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Every run of the window ends (the unplaceable ones after the 3s
	// dispatch timeout).
	byJob := map[string][]jobs.Run{}
	err := Poll(ctx, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, job := range []string{"zone-a", "gpu", "nowhere"} {
			runs, err := listRuns(ctx, c.Store(), job)
			if err != nil {
				return false, err
			}
			byJob[job] = nil
			for _, r := range runs {
				if r.ScheduledAt.Before(from) || r.ScheduledAt.After(to) {
					continue
				}
				if !r.Status.Terminal() {
					return false, nil
				}
				byJob[job] = append(byJob[job], r)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("runs of the window did not end: %v", err)
	}
	for job, logPath := range map[string]string{"zone-a": logA, "gpu": logGPU} {
		runs := byJob[job]
		if len(runs) < 5 {
			t.Fatalf("%s: %d runs in an 8s window of a job firing every second", job, len(runs))
		}
		// Ground truth: where each execution happened, as the body saw it.
		done := map[int64]string{}
		for _, l := range readExecLines(t, logPath) {
			if !slices.Contains(may[job], l.node) {
				t.Errorf("%s: run %d executed on %s, which lacks its run_on labels (may run on %v)", job, l.run, l.node, may[job])
			}
			if prev, twice := done[l.run]; twice {
				t.Errorf("%s: run %d executed twice (%s and %s)", job, l.run, prev, l.node)
			}
			done[l.run] = l.node
		}
		nodes := map[string]int{}
		for _, r := range runs {
			if r.Status != jobs.StatusSucceeded || r.RunOnLabels != c.Config().Job(job).RequiredLabels() {
				t.Errorf("%s: run %d %s (run_on %q): %s", job, r.ID, r.Status, r.RunOnLabels, r.Error)
				continue
			}
			if done[r.ID] != r.Node {
				t.Errorf("%s: run %d succeeded on %s in history, its body ran on %q", job, r.ID, r.Node, done[r.ID])
			}
			nodes[r.Node]++
		}
		t.Logf("%s: %d runs, by node %v", job, len(runs), nodes)
	}
	nowhere := byJob["nowhere"]
	if len(nowhere) < 2 {
		t.Fatalf("nowhere: %d runs in the window, want at least 2", len(nowhere))
	}
	for _, r := range nowhere {
		if r.Status != jobs.StatusFailed || r.Attempt != 0 || !strings.Contains(r.Error, "no live replica matches run_on labels zone=z") {
			t.Errorf("nowhere: run %d %s after %d attempts: %q; want failed unclaimed, naming zone=z", r.ID, r.Status, r.Attempt, r.Error)
		}
	}
}

// TestBroadcastShardRetriedElsewhere: a broadcast job on three replicas;
// kill -9 one while its shard runs. Every tick has one row per shard,
// each succeeded exactly once (ground truth: the bodies' log), and the
// killed replica's shard was retried on another replica.
func TestBroadcastShardRetriedElsewhere(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "bc.log")
	config := fmt.Sprintf(`defaults: {timeout: 30s, concurrency: allow, misfire: run_all}
jobs:
  - name: bc
    schedule: "*/3 * * * * *"
    shell: '%s'
    retries: 2
    retry_backoff: 0s
    run_on: {broadcast: true, labels: {pool: x}}
`, execBody(logPath, "1.5"))
	c := newPlacementCluster(t, config, []string{"pool=x", "pool=x", "pool=x"})
	from := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	// Wait for a tick whose three shards all run, and kill a replica
	// that is not the leader while its shard's body runs (its start line
	// is in the log: a run claimed ahead of its tick is running in the
	// store before its body starts).
	leader, _, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var victim jobs.Run
	err = Poll(ctx, pollEvery, func(ctx context.Context) (bool, error) {
		runs, err := listRuns(ctx, c.Store(), "bc")
		if err != nil {
			return false, err
		}
		running := map[int64][]jobs.Run{}
		for _, r := range runs {
			if r.ScheduledAt.After(from) && r.Status == jobs.StatusRunning && r.ShardTotal == 3 {
				running[r.ScheduledAt.UnixMilli()] = append(running[r.ScheduledAt.UnixMilli()], r)
			}
		}
		for _, rs := range running {
			if len(rs) != 3 {
				continue
			}
			log, err := os.ReadFile(logPath)
			if err != nil && !os.IsNotExist(err) {
				return false, err
			}
			for _, r := range rs {
				if r.Node != leader && strings.Contains(string(log), fmt.Sprintf("start %s %d 1 ", r.Node, r.ID)) {
					victim = r
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no tick with three running shards: %v", err)
	}
	vi := c.Index(victim.Node)
	if err := c.Kill9(vi); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	t.Logf("killed %s running shard %d/%d of tick %s (run %d)", victim.Node, victim.Shard, victim.ShardTotal,
		victim.ScheduledAt.Format(time.RFC3339), victim.ID)
	// Keep going past the victim's liveness: ticks pinned to it before
	// it stopped counting as live are released and run elsewhere too.
	time.Sleep(placementNodeAlive + 3*time.Second)
	to := time.Now()

	// Every shard of every tick of the window ends.
	var window []jobs.Run
	err = Poll(ctx, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		runs, err := listRuns(ctx, c.Store(), "bc")
		if err != nil {
			return false, err
		}
		window = window[:0]
		for _, r := range runs {
			if r.ScheduledAt.Before(from) || r.ScheduledAt.After(to) {
				continue
			}
			if !r.Status.Terminal() {
				return false, nil
			}
			window = append(window, r)
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("shards of the window did not end: %v", err)
	}
	lines := readExecLines(t, logPath)
	type shardKey struct {
		tick  string
		shard int
	}
	doneLines := map[shardKey][]execLine{}
	for _, l := range lines {
		if l.what == "done" {
			k := shardKey{l.tick, l.shard}
			doneLines[k] = append(doneLines[k], l)
		}
	}
	ticks := map[string][]jobs.Run{}
	for _, r := range window {
		tick := r.ScheduledAt.UTC().Format(time.RFC3339)
		ticks[tick] = append(ticks[tick], r)
	}
	if len(ticks) < 4 {
		t.Fatalf("%d ticks in the window, want at least 4", len(ticks))
	}
	for tick, rows := range ticks {
		total := rows[0].ShardTotal
		// Shards are fixed at dispatch: 3 while the victim counted as live.
		before := rows[0].ScheduledAt.Before(killedAt)
		if (before && total != 3) || total < 2 || total > 3 || len(rows) != total {
			t.Errorf("tick %s: %d rows of %d shards (dispatched before the kill: %v)", tick, len(rows), total, before)
			continue
		}
		seen := map[int]bool{}
		for _, r := range rows {
			if seen[r.Shard] || r.ShardTotal != total {
				t.Errorf("tick %s: shard %d twice, or totals differ (%d vs %d)", tick, r.Shard, r.ShardTotal, total)
			}
			seen[r.Shard] = true
			if r.Status != jobs.StatusSucceeded {
				t.Errorf("tick %s shard %d (run %d): %s: %s", tick, r.Shard, r.ID, r.Status, r.Error)
			}
			// Ground truth: the shard's body completed exactly once, for
			// this run, on the node history names.
			got := doneLines[shardKey{tick, r.Shard}]
			if len(got) != 1 || got[0].run != r.ID || got[0].node != r.Node || got[0].total != total || got[0].attempt != r.Attempt {
				t.Errorf("tick %s shard %d (run %d on %s, attempt %d): completions %+v, want exactly one from it", tick, r.Shard, r.ID, r.Node, r.Attempt, got)
			}
		}
	}
	// The victim's shard: its attempt on the killed replica started and
	// was lost; the retry succeeded on another replica.
	run, atts, err := c.Store().GetRun(ctx, victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != jobs.StatusSucceeded || len(atts) < 2 || atts[0].Node != victim.Node || atts[0].Status != jobs.StatusLost ||
		run.Node == victim.Node || run.PinnedNode != "" {
		t.Fatalf("victim's shard: %+v, attempts %+v; want lost on %s, then succeeded elsewhere, unpinned", run, atts, victim.Node)
	}
	started := false
	for _, l := range lines {
		if l.what == "start" && l.run == victim.ID && l.attempt == 1 && l.node == victim.Node {
			started = true
		}
	}
	if !started {
		t.Errorf("the victim's body never logged its start on %s", victim.Node)
	}
	t.Logf("%d ticks, %d shards; the victim's shard %d retried on %s (attempt %d)", len(ticks), len(window), victim.Shard, run.Node, run.Attempt)
}
