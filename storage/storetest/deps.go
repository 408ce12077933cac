package storetest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var depsCases = []testCase{
	{"DepsSingleUpstream", testDepsSingle},
	{"DepsFenced", testDepsFenced},
	{"DepsExactlyOnceConcurrent", testDepsConcurrent},
	{"DepsFanIn", testDepsFanIn},
	{"DepsChain", testDepsChain},
	{"DepsPromotedAndPaused", testDepsPromotedPaused},
	{"DepsWaitingDoNotHoldUpNewEnds", testDepsWaiting},
	{"DepsOnlyFinalStateOfRetriedRun", testDepsRetried},
	{"DepsPlacement", testDepsPlacement},
}

// depsConfig is a sealed config of jobs a and b (schedules not set),
// plus the given dependents; depJob builds one.
func depsConfig(deps ...*jobs.Job) *jobs.Config {
	cfg := &jobs.Config{Jobs: []*jobs.Job{
		{Name: "a", Settings: &jobs.Settings{Concurrency: jobs.ConcurrencyAllow}},
		{Name: "b", Settings: &jobs.Settings{Concurrency: jobs.ConcurrencyAllow}},
	}}
	cfg.Jobs = append(cfg.Jobs, deps...)
	cfg.Seal()
	return cfg
}

func depJob(name string, after ...jobs.Upstream) *jobs.Job {
	return &jobs.Job{
		Name:     name,
		Settings: &jobs.Settings{Concurrency: jobs.ConcurrencyAllow, Retries: 2, CatchupWindow: time.Hour, Deps: &jobs.Deps{After: after}},
	}
}

func up(job string, on jobs.DepCondition) jobs.Upstream { return jobs.Upstream{Job: job, On: on} }

// pending is nr with DepsPending set: a run of a job with dependents.
func pending(job string, at time.Time) storage.NewRun {
	return with(nr(job, at), func(r *storage.NewRun) { r.DepsPending = true })
}

func resolve(t *testing.T, s storage.Store, epoch int64, now time.Time, cfg *jobs.Config) []jobs.Run {
	t.Helper()
	got, err := s.ResolveDeps(t.Context(), storage.DepsParams{Epoch: epoch, Now: now, Dependents: cfg.Dependents, Job: cfg.Job})
	if err != nil {
		t.Fatalf("ResolveDeps: %v", err)
	}
	return got
}

// finish claims r and ends its attempt with st at at.
func finish(t *testing.T, s storage.Store, r jobs.Run, st jobs.RunStatus, at time.Time) jobs.Run {
	t.Helper()
	c := claim(t, s, r, "n1", at, at.Add(time.Minute))
	got, err := s.Finish(t.Context(), storage.FinishParams{RunID: c.ID, Attempt: c.Attempt, Node: "n1", Status: st, FinishedAt: at})
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return got
}

// depRows lists the rows of job with trigger dependency, oldest first.
func depRows(t *testing.T, s storage.Store, job string) []jobs.Run {
	t.Helper()
	rows := list(t, s, storage.RunFilter{Job: job, Trigger: jobs.TriggerDependency, Limit: 1000})
	slices.Reverse(rows)
	return rows
}

func testDepsSingle(t *testing.T, s storage.Store) {
	cfg := depsConfig(depJob("ok", up("a", jobs.DepSuccess)), depJob("bad", up("a", jobs.DepFailure)),
		depJob("any", up("a", jobs.DepCompleted)))
	e := bump(t, s)
	a := queue(t, s, e, pending("a", t0))
	if got := resolve(t, s, e, t0, cfg); len(got) != 0 {
		t.Fatalf("ResolveDeps before the upstream ended created %d runs", len(got))
	}
	end := t0.Add(3 * time.Second)
	finish(t, s, a, jobs.StatusSucceeded, end)
	now := end.Add(time.Second)
	got := resolve(t, s, e, now, cfg)
	if len(got) != 2 || got[0].Job != "ok" || got[1].Job != "any" {
		t.Fatalf("ResolveDeps queued %+v, want runs of ok and any", got)
	}
	okJob := cfg.Job("ok")
	want := jobs.Run{ID: got[0].ID, Job: "ok", Digest: okJob.Digest, ScheduledAt: end, Trigger: jobs.TriggerDependency,
		Status: jobs.StatusQueued, MaxAttempts: 3, NotBefore: end, CreatedAt: now}
	checkRun(t, "queued dependent", got[0], want)
	checkStored(t, s, want)
	if !slices.Equal(got[0].UpstreamRuns, []int64{a.ID}) {
		t.Fatalf("returned UpstreamRuns %v, want [%d]", got[0].UpstreamRuns, a.ID)
	}
	bad := depRows(t, s, "bad")
	if len(bad) != 1 || bad[0].Status != jobs.StatusSkipped || !strings.Contains(bad[0].Error, `upstream "a"`) ||
		!strings.Contains(bad[0].Error, "succeeded") || bad[0].FinishedAt == nil {
		t.Fatalf("bad's rows %+v, want one skipped row naming a and succeeded", bad)
	}
	r, _ := get(t, s, got[0].ID)
	if !slices.Equal(r.UpstreamRuns, []int64{a.ID}) {
		t.Fatalf("GetRun(dependent).UpstreamRuns = %v, want [%d]", r.UpstreamRuns, a.ID)
	}
	ra, _ := get(t, s, a.ID)
	if wantDown := []int64{got[0].ID, bad[0].ID, got[1].ID}; !sameIDs(ra.DownstreamRuns, wantDown) {
		t.Fatalf("GetRun(upstream).DownstreamRuns = %v, want %v", ra.DownstreamRuns, wantDown)
	}
	// Once decided, never again.
	if again := resolve(t, s, e, now.Add(time.Minute), cfg); len(again) != 0 {
		t.Fatalf("a second ResolveDeps queued %d runs", len(again))
	}
	// A missed upstream tick: every dependent gets a skipped row, none runs.
	missed := with(pending("a", t0.Add(time.Minute)), func(r *storage.NewRun) { r.Status, r.Error = jobs.StatusMissed, "missed" })
	dispatch(t, s, e, now, missed)
	if q := resolve(t, s, e, now.Add(2*time.Minute), cfg); len(q) != 0 {
		t.Fatalf("a missed upstream tick queued %+v", q)
	}
	for _, job := range []string{"ok", "bad", "any"} {
		rows := depRows(t, s, job)
		if len(rows) != 2 || rows[1].Status != jobs.StatusSkipped || !strings.Contains(rows[1].Error, "missed") {
			t.Fatalf("%s after a missed tick: %+v, want a second row, skipped, naming missed", job, rows)
		}
	}
	// A run of a job without dependents is never followed, and pending
	// rows of a job the config no longer gives dependents are resolved
	// without any.
	plain := queue(t, s, e, nr("b", t0))
	finish(t, s, plain, jobs.StatusSucceeded, end)
	gone := queue(t, s, e, pending("b", t0.Add(time.Minute)))
	finish(t, s, gone, jobs.StatusSucceeded, gone.ScheduledAt.Add(time.Second))
	if q := resolve(t, s, e, now.Add(3*time.Minute), cfg); len(q) != 0 {
		t.Fatalf("runs of b queued %+v", q)
	}
}

func sameIDs(a, b []int64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func testDepsFenced(t *testing.T, s storage.Store) {
	cfg := depsConfig(depJob("c", up("a", jobs.DepSuccess)))
	old := bump(t, s)
	a := queue(t, s, old, pending("a", t0))
	finish(t, s, a, jobs.StatusSucceeded, t0.Add(time.Second))
	cur := bump(t, s)
	_, err := s.ResolveDeps(t.Context(), storage.DepsParams{Epoch: old, Now: t0.Add(2 * time.Second), Dependents: cfg.Dependents, Job: cfg.Job})
	wantErr(t, "ResolveDeps of a fenced epoch", err, storage.ErrFenced)
	if rows := depRows(t, s, "c"); len(rows) != 0 {
		t.Fatalf("a fenced ResolveDeps wrote %d rows", len(rows))
	}
	if got := resolve(t, s, cur, t0.Add(3*time.Second), cfg); len(got) != 1 {
		t.Fatalf("the current leader's ResolveDeps queued %d runs, want 1 (the fenced call must leave the upstream pending)", len(got))
	}
}

// testDepsConcurrent: calls at once (two leaders' worth of racing, same
// epoch) create each dependent exactly once.
func testDepsConcurrent(t *testing.T, s storage.Store) {
	cfg := depsConfig(depJob("c", up("a", jobs.DepSuccess)), depJob("d", up("a", jobs.DepCompleted), up("b", jobs.DepCompleted)))
	e := bump(t, s)
	const ticks = 20
	for i := range ticks {
		at := t0.Add(time.Duration(i) * time.Minute)
		for _, job := range []string{"a", "b"} {
			r := queue(t, s, e, pending(job, at))
			finish(t, s, r, jobs.StatusSucceeded, at.Add(time.Second))
		}
	}
	now := t0.Add(time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 4 {
		wg.Go(func() {
			for range 3 {
				got, err := s.ResolveDeps(t.Context(), storage.DepsParams{Epoch: e, Now: now, Dependents: cfg.Dependents, Job: cfg.Job, Limit: 7})
				if err != nil {
					t.Errorf("ResolveDeps: %v", err)
					return
				}
				mu.Lock()
				total += len(got)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for range 10 { // what the small limit left
		mu.Lock()
		total += len(resolve(t, s, e, now, cfg))
		mu.Unlock()
	}
	if c, d := depRows(t, s, "c"), depRows(t, s, "d"); len(c) != ticks || len(d) != ticks || total != 2*ticks {
		t.Fatalf("%d rows of c, %d of d, %d returned; want %d, %d, %d", len(c), len(d), total, ticks, ticks, 2*ticks)
	}
}

func testDepsFanIn(t *testing.T, s storage.Store) {
	cfg := depsConfig(depJob("d", up("a", jobs.DepSuccess), up("b", jobs.DepCompleted)))
	e := bump(t, s)
	// Tick 1: a ends first, b is dispatched and runs later.
	a1 := queue(t, s, e, pending("a", t0))
	finish(t, s, a1, jobs.StatusSucceeded, t0.Add(time.Second))
	if got := resolve(t, s, e, t0.Add(2*time.Second), cfg); len(got) != 0 {
		t.Fatalf("fan-in queued %d runs before b had a run of the tick", len(got))
	}
	b1 := queue(t, s, e, pending("b", t0))
	if got := resolve(t, s, e, t0.Add(3*time.Second), cfg); len(got) != 0 {
		t.Fatalf("fan-in queued %d runs while b's run was queued", len(got))
	}
	b1end := t0.Add(4 * time.Second)
	finish(t, s, b1, jobs.StatusFailed, b1end)
	got := resolve(t, s, e, t0.Add(5*time.Second), cfg)
	if len(got) != 1 || got[0].Job != "d" || !slices.Equal(got[0].UpstreamRuns, []int64{a1.ID, b1.ID}) ||
		!got[0].ScheduledAt.Equal(b1end) {
		t.Fatalf("fan-in queued %+v, want one run of d after [%d %d], due when the last upstream ended", got, a1.ID, b1.ID)
	}
	// Tick 2: both end in the same round; a failed: one skipped row naming a.
	t1 := t0.Add(time.Minute)
	a2, b2 := queue(t, s, e, pending("a", t1)), queue(t, s, e, pending("b", t1))
	finish(t, s, a2, jobs.StatusFailed, t1.Add(time.Second))
	finish(t, s, b2, jobs.StatusSucceeded, t1.Add(time.Second))
	if q := resolve(t, s, e, t1.Add(2*time.Second), cfg); len(q) != 0 {
		t.Fatalf("a failed upstream queued %+v", q)
	}
	// Tick 3: b never gets a run of the tick; d waits catchup_window
	// (1h), then gets a skipped row naming b.
	t2 := t0.Add(2 * time.Minute)
	a3 := queue(t, s, e, pending("a", t2))
	finish(t, s, a3, jobs.StatusSucceeded, t2.Add(time.Second))
	if q := resolve(t, s, e, t2.Add(30*time.Minute), cfg); len(q) != 0 {
		t.Fatalf("fan-in queued %+v without b", q)
	}
	if q := resolve(t, s, e, t2.Add(2*time.Hour), cfg); len(q) != 0 {
		t.Fatalf("fan-in queued %+v without b after the wait", q)
	}
	rows := depRows(t, s, "d")
	if len(rows) != 3 || rows[1].Status != jobs.StatusSkipped || !strings.Contains(rows[1].Error, `upstream "a"`) ||
		rows[2].Status != jobs.StatusSkipped || !strings.Contains(rows[2].Error, `"b"`) {
		t.Fatalf("rows of d: %+v; want queued, skipped naming a, skipped naming b", rows)
	}
	r, _ := get(t, s, rows[1].ID)
	if !slices.Equal(r.UpstreamRuns, []int64{a2.ID, b2.ID}) {
		t.Fatalf("skipped row's UpstreamRuns = %v, want [%d %d]", r.UpstreamRuns, a2.ID, b2.ID)
	}
	// A manual run (no tick) of an upstream never joins a fan-in.
	m := queue(t, s, e, with(pending("a", t0.Add(time.Hour)), func(r *storage.NewRun) { r.Trigger = jobs.TriggerManual }))
	finish(t, s, m, jobs.StatusSucceeded, t0.Add(time.Hour))
	resolve(t, s, e, t0.Add(3*time.Hour), cfg)
	if rows := depRows(t, s, "d"); len(rows) != 3 {
		t.Fatalf("a manual upstream run made %d rows of d, want still 3", len(rows))
	}
}

// testDepsChain: a -> b -> c, b without a schedule; b's dependency run
// carries a's tick, so c follows it, and a fan-in on b joins on that tick.
func testDepsChain(t *testing.T, s storage.Store) {
	cfg := &jobs.Config{Jobs: []*jobs.Job{
		{Name: "a", Settings: &jobs.Settings{Concurrency: jobs.ConcurrencyAllow}},
		depJob("b", up("a", jobs.DepSuccess)),
		depJob("c", up("b", jobs.DepSuccess)),
		depJob("j", up("a", jobs.DepSuccess), up("b", jobs.DepSuccess)),
	}}
	cfg.Seal()
	e := bump(t, s)
	a := queue(t, s, e, pending("a", t0))
	finish(t, s, a, jobs.StatusSucceeded, t0.Add(time.Second))
	got := resolve(t, s, e, t0.Add(2*time.Second), cfg)
	if len(got) != 1 || got[0].Job != "b" {
		t.Fatalf("queued %+v, want b (j waits for b)", got)
	}
	b := finish(t, s, got[0], jobs.StatusSucceeded, t0.Add(3*time.Second))
	got = resolve(t, s, e, t0.Add(4*time.Second), cfg)
	names := []string{}
	for _, r := range got {
		names = append(names, r.Job)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"c", "j"}) {
		t.Fatalf("after b ended, queued %v, want c and j", names)
	}
	for _, r := range got {
		want := []int64{b.ID}
		if r.Job == "j" {
			want = []int64{a.ID, b.ID}
		}
		if !slices.Equal(r.UpstreamRuns, want) {
			t.Fatalf("%s follows %v, want %v", r.Job, r.UpstreamRuns, want)
		}
	}
}

// testDepsPromotedAndPaused: a manual run promoted by a leader whose
// config gives its job dependents is followed (keyed by its id); a
// paused dependent gets a skipped row.
func testDepsPromotedPaused(t *testing.T, s storage.Store) {
	cfg := depsConfig(depJob("c", up("a", jobs.DepSuccess)), depJob("p", up("a", jobs.DepSuccess)))
	e := bump(t, s)
	if _, err := s.Trigger(t.Context(), "a", t0); err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	promoted, err := s.PromoteScheduled(t.Context(), storage.PromoteParams{Epoch: e, Now: t0, Job: cfg.Job, Dependents: cfg.Dependents})
	if err != nil || len(promoted) != 1 {
		t.Fatalf("PromoteScheduled = %d runs, %v", len(promoted), err)
	}
	finish(t, s, promoted[0], jobs.StatusSucceeded, t0.Add(time.Second))
	got, err := s.ResolveDeps(t.Context(), storage.DepsParams{Epoch: e, Now: t0.Add(2 * time.Second), Dependents: cfg.Dependents, Job: cfg.Job,
		Paused: func(name string) bool { return name == "p" }})
	if err != nil {
		t.Fatalf("ResolveDeps: %v", err)
	}
	if len(got) != 1 || got[0].Job != "c" || !slices.Equal(got[0].UpstreamRuns, []int64{promoted[0].ID}) {
		t.Fatalf("queued %+v, want one run of c after the manual run", got)
	}
	if rows := depRows(t, s, "p"); len(rows) != 1 || rows[0].Status != jobs.StatusSkipped || !strings.Contains(rows[0].Error, "paused") {
		t.Fatalf("rows of paused p: %+v, want one skipped row naming the pause", rows)
	}
}

// testDepsWaiting: runs a fan-in waits on are read after the runs that
// ended since, so however many wait, a new end is decided at once; the end
// of the upstream run waited for decides the fan-in.
func testDepsWaiting(t *testing.T, s storage.Store) {
	cfg := depsConfig(depJob("d", up("a", jobs.DepSuccess), up("b", jobs.DepSuccess)), depJob("c", up("b", jobs.DepSuccess)))
	e := bump(t, s)
	p := storage.DepsParams{Epoch: e, Dependents: cfg.Dependents, Job: cfg.Job, Limit: 1}
	call := func(now time.Time) []jobs.Run {
		t.Helper()
		p.Now = now
		got, err := s.ResolveDeps(t.Context(), p)
		if err != nil {
			t.Fatalf("ResolveDeps: %v", err)
		}
		return got
	}
	var as []jobs.Run
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Minute)
		a := queue(t, s, e, pending("a", at))
		as = append(as, finish(t, s, a, jobs.StatusSucceeded, at.Add(time.Second)))
		if got := call(at.Add(2 * time.Second)); len(got) != 0 {
			t.Fatalf("queued %+v while b has no run of the tick", got)
		}
	}
	at := t0.Add(10 * time.Minute)
	b := queue(t, s, e, pending("b", at))
	finish(t, s, b, jobs.StatusSucceeded, at.Add(time.Second))
	if got := call(at.Add(2 * time.Second)); len(got) != 1 || got[0].Job != "c" {
		t.Fatalf("with three runs waiting and a limit of 1, queued %+v, want c at once", got)
	}
	// b's run of the first tick ends: d runs for it, decided by b's end.
	b0 := queue(t, s, e, pending("b", t0))
	finish(t, s, b0, jobs.StatusSucceeded, at.Add(3*time.Second))
	got := call(at.Add(4 * time.Second))
	var ds []jobs.Run
	for _, r := range got {
		if r.Job == "d" {
			ds = append(ds, r)
		}
	}
	if len(ds) != 1 || !slices.Equal(ds[0].UpstreamRuns, []int64{as[0].ID, b0.ID}) {
		t.Fatalf("after b's run of the first tick ended, queued %+v, want d after [%d %d]", got, as[0].ID, b0.ID)
	}
}

// testDepsRetried: a run sent back to queued for a retry has not ended;
// its dependent follows the final state only.
func testDepsRetried(t *testing.T, s storage.Store) {
	cfg := depsConfig(depJob("c", up("a", jobs.DepSuccess)))
	e := bump(t, s)
	a := queue(t, s, e, with(pending("a", t0), func(r *storage.NewRun) { r.MaxAttempts = 2 }))
	c1 := claim(t, s, a, "n1", t0, t0.Add(time.Minute))
	retry := t0.Add(5 * time.Second)
	if _, err := s.Finish(t.Context(), storage.FinishParams{RunID: a.ID, Attempt: c1.Attempt, Node: "n1", Status: jobs.StatusFailed,
		FinishedAt: t0.Add(time.Second), RetryAt: &retry}); err != nil {
		t.Fatalf("Finish with a retry: %v", err)
	}
	if got := resolve(t, s, e, t0.Add(2*time.Second), cfg); len(got) != 0 || len(depRows(t, s, "c")) != 0 {
		t.Fatalf("a run waiting for its retry made %+v", got)
	}
	c2 := claim(t, s, a, "n1", retry, retry.Add(time.Minute))
	if _, err := s.Finish(t.Context(), storage.FinishParams{RunID: a.ID, Attempt: c2.Attempt, Node: "n1", Status: jobs.StatusSucceeded,
		FinishedAt: retry.Add(time.Second)}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if got := resolve(t, s, e, retry.Add(2*time.Second), cfg); len(got) != 1 || !slices.Equal(got[0].UpstreamRuns, []int64{a.ID}) {
		t.Fatalf("after the retry succeeded, queued %+v, want one run of c", got)
	}
}

// testDepsPlacement: a dependent with run_on labels is queued requiring
// them (only matching replicas claim it); a broadcast dependent is one
// run, shard 0 of 1.
func testDepsPlacement(t *testing.T, s storage.Store) {
	pinned := depJob("pinned", up("a", jobs.DepSuccess))
	pinned.RunOn = &jobs.Placement{Labels: jobs.Labels{"zone": "a"}}
	wide := depJob("wide", up("a", jobs.DepSuccess))
	wide.RunOn = &jobs.Placement{Broadcast: true}
	cfg := depsConfig(pinned, wide)
	e := bump(t, s)
	a := queue(t, s, e, pending("a", t0))
	end := t0.Add(time.Second)
	finish(t, s, a, jobs.StatusSucceeded, end)
	got := resolve(t, s, e, end.Add(time.Second), cfg)
	if len(got) != 2 {
		t.Fatalf("ResolveDeps queued %+v, want runs of pinned and wide", got)
	}
	for _, r := range got {
		stored, _ := get(t, s, r.ID)
		switch r.Job {
		case "pinned":
			if r.RunOnLabels != "zone=a" || stored.RunOnLabels != "zone=a" || stored.ShardTotal != 0 {
				t.Errorf("pinned dependent: returned labels %q, stored %+v; want zone=a, not a shard", r.RunOnLabels, stored)
			}
		case "wide":
			if stored.ShardTotal != 1 || stored.Shard != 0 || stored.PinnedNode != "" {
				t.Errorf("broadcast dependent stored %+v, want shard 0 of 1, unpinned", stored)
			}
		default:
			t.Errorf("unexpected dependent %+v", r)
		}
	}
}
