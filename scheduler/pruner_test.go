package scheduler

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
)

func TestPruneRules(t *testing.T) {
	t.Parallel()
	now := t0
	for _, tc := range []struct {
		name string
		h    jobs.HistoryConfig
		want []storage.PruneParams
	}{
		{"forever", jobs.HistoryConfig{}, nil},
		{"by age", jobs.HistoryConfig{Keep: time.Hour}, []storage.PruneParams{{Before: now.Add(-time.Hour)}}},
		{"by count", jobs.HistoryConfig{KeepPerJob: 7}, []storage.PruneParams{{Before: now, KeepPerJob: 7}}},
		// Independent rules: older than keep, or beyond keep_per_job.
		{"both", jobs.HistoryConfig{Keep: 30 * 24 * time.Hour, KeepPerJob: 10000}, []storage.PruneParams{
			{Before: now.Add(-30 * 24 * time.Hour)}, {Before: now, KeepPerJob: 10000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pruneRules(tc.h, now)
			if len(got) != len(tc.want) {
				t.Fatalf("pruneRules(%+v) = %+v, want %+v", tc.h, got, tc.want)
			}
			for i := range got {
				if !got[i].Before.Equal(tc.want[i].Before) || got[i].KeepPerJob != tc.want[i].KeepPerJob {
					t.Errorf("rule %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// pruneConfig keeps a day of history and five runs per job; its one job
// fires once a year, so the leader dispatches nothing during the test.
const pruneConfig = `
history: {keep: 24h, keep_per_job: 5}
defaults: {concurrency: allow}
jobs:
  - name: a
    schedule: "0 0 1 1 *"
    command: ["true"]
`

// pruneBatch is small so that the backlog takes several batches.
const pruneBatch = 2

func TestPrunerSQLite(t *testing.T) {
	t.Parallel()
	r := newRig(t, pruneConfig)
	testPruner(t, r)
}

func TestPrunerMySQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := mysql.Open(ctx, mysqltest.NewDatabase(t), mysql.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	testPruner(t, newRigOn(t, pruneConfig, st, clock.NewFake(t0)))
}

// testPruner seeds history and checks that the leader prunes, in batches
// within one interval, exactly what the history block no longer keeps.
func testPruner(t *testing.T, r *rig) {
	pruned := make(chan int64, 100)
	r.s.opts.PruneBatch = pruneBatch
	r.s.opts.Events.Pruned = func(n int64) { pruned <- n }
	epoch := r.start()
	ctx := context.Background()

	// seed inserts terminal (missed) rows of job at the given minutes after
	// from, recorded as finished at finished, and returns their ids.
	seed := func(job string, from time.Time, minutes int, finished time.Time, status jobs.RunStatus) []int64 {
		t.Helper()
		var rows []storage.NewRun
		for m := range minutes {
			rows = append(rows, storage.NewRun{Job: job, Digest: "d", ScheduledAt: from.Add(time.Duration(m) * time.Minute),
				Trigger: jobs.TriggerSchedule, Status: status, MaxAttempts: 1, NotBefore: finished,
				Error: "seeded", Concurrency: jobs.ConcurrencyAllow})
		}
		if _, err := r.store.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: finished, Runs: rows}); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, run := range r.runs(storage.RunFilter{Job: job}) {
			if !run.ScheduledAt.Before(from) && run.ScheduledAt.Before(from.Add(time.Duration(minutes)*time.Minute)) {
				ids = append(ids, run.ID)
			}
		}
		if len(ids) != minutes {
			t.Fatalf("seeded %d rows of %s, found %d", minutes, job, len(ids))
		}
		slices.Sort(ids) // oldest first
		return ids
	}
	now := r.clk.Now()
	// a: four runs that finished three days ago (older than keep), an
	// active run of the same age (never pruned), two recent runs.
	oldA := seed("a", now.Add(-72*time.Hour), 4, now.Add(-71*time.Hour), jobs.StatusMissed)
	active := seed("a", now.Add(-70*time.Hour), 1, now, jobs.StatusQueued)
	recentA := seed("a", now.Add(-2*time.Hour), 2, now.Add(-time.Hour), jobs.StatusMissed)
	// b: eight recent runs, three more than keep_per_job.
	b := seed("b", now.Add(-3*time.Hour), 8, now.Add(-time.Hour), jobs.StatusMissed)

	var total int64
	drain := func() {
		for {
			select {
			case n := <-pruned:
				if n > pruneBatch {
					t.Errorf("one prune call deleted %d runs, want at most the batch of %d", n, pruneBatch)
				}
				total += n
			default:
				return
			}
		}
	}
	const want = 4 + 3 // a's old runs; b's three oldest
	for total < want {
		// BlockUntil in step waits for the pruner to re-arm its timer,
		// so every Pruned event of a round has arrived by the next step.
		r.step(time.Second)
		drain()
		if r.clk.Now().Sub(now) > DefaultPruneInterval+10*time.Second {
			t.Fatalf("pruned %d runs by %s, want %d within one interval (batches follow each other after a short pause)",
				total, r.clk.Now().Sub(now), want)
		}
	}
	// Another interval: what is kept stays kept.
	r.step(DefaultPruneInterval + time.Second)
	drain()
	if total != want {
		t.Fatalf("pruned %d runs, want %d", total, want)
	}

	ids := func(job string) map[int64]bool {
		m := map[int64]bool{}
		for _, run := range r.runs(storage.RunFilter{Job: job}) {
			m[run.ID] = true
		}
		return m
	}
	gotA, gotB := ids("a"), ids("b")
	for _, id := range oldA {
		if gotA[id] {
			t.Errorf("run %d of a finished 71h ago was kept (keep 24h)", id)
		}
	}
	for _, id := range append(active, recentA...) {
		if !gotA[id] {
			t.Errorf("run %d of a was pruned: it is active or recent", id)
		}
	}
	for i, id := range b {
		if keep := i >= len(b)-5; gotB[id] != keep {
			t.Errorf("run %d of b (%d of %d, oldest first): kept=%v, want %v (keep_per_job 5)", id, i+1, len(b), gotB[id], keep)
		}
	}
	if len(gotA) != 3 || len(gotB) != 5 {
		t.Errorf("a has %d runs, b %d; want 3 and 5", len(gotA), len(gotB))
	}
}
