package storetest

import (
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var dispatchCases = []testCase{
	{"DispatchQueued", testDispatchQueued},
	{"DispatchDuplicateTicks", testDispatchDuplicateTicks},
	{"DispatchConcurrentSameTicks", testDispatchConcurrent},
	{"DispatchFenced", testDispatchFenced},
	{"DispatchTerminalRows", testDispatchTerminalRows},
	{"DispatchManualRowsNeverCollide", testDispatchManual},
	{"DispatchLargeBatch", testDispatchLarge},
	{"ConcurrencyForbid", testForbid},
	{"ConcurrencyReplace", testReplace},
	{"ConcurrencyAllow", testAllow},
	{"Cursors", testCursors},
	{"CursorsProvenByRows", testCursorsProvenByRows},
	{"CursorsMany", testCursorsMany},
	{"TimePrecision", testTimePrecision},
}

func testDispatchQueued(t *testing.T, s storage.Store) {
	e := bump(t, s)
	now := t0.Add(time.Second)
	in := []storage.NewRun{
		nr("a", t0),
		with(nr("b", t0), func(r *storage.NewRun) {
			r.MaxAttempts, r.NotBefore, r.Trigger = 3, t0.Add(7*time.Second), jobs.TriggerCatchup
		}),
		nr("a", t0.Add(time.Minute)),
	}
	got := dispatch(t, s, e, now, in...)
	if len(got) != len(in) {
		t.Fatalf("Dispatch returned %d runs, want %d", len(got), len(in))
	}
	ids := map[int64]bool{}
	for i, r := range got {
		if r.ID == 0 || ids[r.ID] {
			t.Fatalf("run %d has id %d: want distinct non-zero ids", i, r.ID)
		}
		ids[r.ID] = true
		want := jobs.Run{ID: r.ID, Job: in[i].Job, Digest: in[i].Digest, ScheduledAt: in[i].ScheduledAt, Trigger: in[i].Trigger,
			Status: jobs.StatusQueued, MaxAttempts: in[i].MaxAttempts, NotBefore: in[i].NotBefore, CreatedAt: now}
		checkRun(t, "returned", r, want)
		checkStored(t, s, want)
	}
	if _, atts := get(t, s, got[0].ID); len(atts) != 0 {
		t.Fatalf("a dispatched run has %d attempts, want 0", len(atts))
	}
}

func testDispatchDuplicateTicks(t *testing.T, s storage.Store) {
	e := bump(t, s)
	first := dispatch(t, s, e, t0, nr("a", t0), nr("b", t0))
	// The same ticks again, one new tick, and a duplicate inside the call.
	again := dispatch(t, s, e, t0.Add(time.Second), nr("a", t0), nr("b", t0), nr("a", t0.Add(time.Minute)), nr("a", t0.Add(time.Minute)))
	if len(first) != 2 || len(again) != 1 {
		t.Fatalf("Dispatch returned %d then %d runs, want 2 then 1", len(first), len(again))
	}
	if again[0].Job != "a" || !again[0].ScheduledAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("second Dispatch returned %s@%s, want the new tick a@%s", again[0].Job, again[0].ScheduledAt, t0.Add(time.Minute))
	}
	if all := list(t, s, storage.RunFilter{}); len(all) != 3 {
		t.Fatalf("history holds %d runs, want 3 (one per tick)", len(all))
	}
	// A catch-up row for a tick the schedule already dispatched is the same tick.
	catchup := with(nr("a", t0), func(r *storage.NewRun) { r.Trigger = jobs.TriggerCatchup })
	if got := dispatch(t, s, e, t0.Add(time.Hour), catchup); len(got) != 0 {
		t.Fatalf("catchup of a dispatched tick returned %d runs, want 0", len(got))
	}
}

func testDispatchConcurrent(t *testing.T, s storage.Store) {
	e := bump(t, s)
	var ticks []storage.NewRun
	for i := range 40 {
		ticks = append(ticks, nr(fmt.Sprintf("job%d", i%4), t0.Add(time.Duration(i)*time.Minute)))
	}
	const dispatchers = 4
	results := make([][]jobs.Run, dispatchers)
	errs := make([]error, dispatchers)
	var wg sync.WaitGroup
	for g := range dispatchers {
		wg.Go(func() {
			results[g], errs[g] = s.Dispatch(t.Context(), storage.DispatchParams{Epoch: e, Now: t0, Runs: ticks})
		})
	}
	wg.Wait()
	ids := map[int64]bool{}
	for g := range dispatchers {
		if errs[g] != nil {
			t.Fatalf("dispatcher %d: %v", g, errs[g])
		}
		for _, r := range results[g] {
			if ids[r.ID] {
				t.Fatalf("run %d returned to two dispatchers", r.ID)
			}
			ids[r.ID] = true
		}
	}
	if len(ids) != len(ticks) {
		t.Fatalf("dispatchers got %d runs in all, want %d (each tick once)", len(ids), len(ticks))
	}
	if all := list(t, s, storage.RunFilter{Limit: 1000}); len(all) != len(ticks) {
		t.Fatalf("history holds %d runs, want %d", len(all), len(ticks))
	}
}

func testDispatchFenced(t *testing.T, s storage.Store) {
	ctx := t.Context()
	old := bump(t, s)
	bump(t, s)
	_, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: old, Now: t0, Runs: []storage.NewRun{nr("a", t0)},
		Cursors: map[string]time.Time{"a": t0}})
	wantErr(t, "Dispatch with a stale epoch", err, storage.ErrFenced)
	if all := list(t, s, storage.RunFilter{}); len(all) != 0 {
		t.Fatalf("fenced Dispatch wrote %d runs", len(all))
	}
	states, err := s.JobStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 0 {
		t.Fatalf("fenced Dispatch wrote job states %v", states)
	}
	_, err = s.Dispatch(ctx, storage.DispatchParams{Epoch: old + 5, Now: t0, Runs: []storage.NewRun{nr("a", t0)}})
	wantErr(t, "Dispatch with a future epoch", err, storage.ErrFenced)
}

func testDispatchTerminalRows(t *testing.T, s storage.Store) {
	e := bump(t, s)
	now := t0.Add(time.Hour)
	missed := with(nr("a", t0), func(r *storage.NewRun) {
		r.Status, r.Error, r.Trigger = jobs.StatusMissed, "older than the catch-up window", jobs.TriggerCatchup
	})
	skipped := with(nr("a", t0.Add(time.Minute)), func(r *storage.NewRun) {
		r.Status, r.Error, r.Trigger = jobs.StatusSkipped, "misfire policy skip", jobs.TriggerCatchup
	})
	if got := dispatch(t, s, e, now, missed, skipped); len(got) != 0 {
		t.Fatalf("Dispatch of missed and skipped rows returned %d runs, want 0", len(got))
	}
	all := list(t, s, storage.RunFilter{})
	if len(all) != 2 {
		t.Fatalf("history holds %d rows, want 2", len(all))
	}
	for _, r := range all {
		src := missed
		if r.ScheduledAt.Equal(skipped.ScheduledAt) {
			src = skipped
		}
		checkRun(t, "terminal row", r, jobs.Run{ID: r.ID, Job: "a", Digest: src.Digest, ScheduledAt: src.ScheduledAt, Trigger: src.Trigger,
			Status: src.Status, MaxAttempts: 1, NotBefore: src.NotBefore, CreatedAt: now, FinishedAt: &now, Error: src.Error})
	}
	// The ticks are accounted for: running them later is a duplicate (I1).
	if got := dispatch(t, s, e, now, nr("a", t0), nr("a", t0.Add(time.Minute))); len(got) != 0 {
		t.Fatalf("Dispatch of ticks recorded as missed/skipped returned %d runs, want 0", len(got))
	}
}

func testDispatchManual(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	r1, err := s.Trigger(ctx, "a", t0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Trigger(ctx, "a", t0)
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID == 0 || r1.ID == r2.ID {
		t.Fatalf("two triggers at the same time got ids %d and %d, want two rows", r1.ID, r2.ID)
	}
	// A manual row and a schedule row at the same time are different runs.
	manual := with(nr("a", t0), func(r *storage.NewRun) { r.Trigger = jobs.TriggerManual })
	got := dispatch(t, s, e, t0, manual, manual, nr("a", t0))
	if len(got) != 3 {
		t.Fatalf("Dispatch of 2 manual rows and a tick at one time returned %d runs, want 3", len(got))
	}
	for _, r := range got {
		checkStored(t, s, r)
	}
	if all := list(t, s, storage.RunFilter{Job: "a"}); len(all) != 5 {
		t.Fatalf("history holds %d runs of a, want 5", len(all))
	}
}

func testDispatchLarge(t *testing.T, s storage.Store) {
	e := bump(t, s)
	var in []storage.NewRun
	for i := range 700 {
		in = append(in, nr(fmt.Sprintf("job-%d", i%7), t0.Add(time.Duration(i)*time.Second)))
	}
	got := dispatch(t, s, e, t0, in...)
	if len(got) != len(in) {
		t.Fatalf("Dispatch returned %d runs, want %d", len(got), len(in))
	}
	ids := map[int64]bool{}
	for i, r := range got {
		if ids[r.ID] || r.Job != in[i].Job || !r.ScheduledAt.Equal(in[i].ScheduledAt) {
			t.Fatalf("run %d: id %d %s@%s, want a new id for %s@%s", i, r.ID, r.Job, r.ScheduledAt, in[i].Job, in[i].ScheduledAt)
		}
		ids[r.ID] = true
	}
	for _, i := range []int{0, 499, 500, 699} {
		checkStored(t, s, got[i])
	}
	if again := dispatch(t, s, e, t0, in...); len(again) != 0 {
		t.Fatalf("redispatching %d ticks returned %d runs, want 0", len(in), len(again))
	}
}

func testForbid(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	forbid := func(job string, at time.Time) storage.NewRun {
		return with(nr(job, at), func(r *storage.NewRun) { r.Concurrency = jobs.ConcurrencyForbid })
	}
	skipReason := func(id int64) string { return fmt.Sprintf("previous run %d still active (concurrency: forbid)", id) }
	now := t0.Add(time.Minute)

	// A queued run blocks the next tick.
	r1 := queue(t, s, e, forbid("a", t0))
	if got := dispatch(t, s, e, now, forbid("a", now)); len(got) != 0 {
		t.Fatalf("forbid with an active run returned %d runs, want 0", len(got))
	}
	skipped := list(t, s, storage.RunFilter{Job: "a", Status: jobs.StatusSkipped})
	if len(skipped) != 1 || skipped[0].Error != skipReason(r1.ID) || !eqTime(skipped[0].FinishedAt, &now) {
		t.Fatalf("skipped rows = %+v, want one with error %q finished at %s", skipped, skipReason(r1.ID), now)
	}

	// A run queued earlier in the same batch blocks the later ones.
	got := dispatch(t, s, e, now, forbid("b", t0), forbid("b", now), forbid("b", now.Add(time.Minute)))
	if len(got) != 1 || !got[0].ScheduledAt.Equal(t0) {
		t.Fatalf("forbid batch returned %+v, want only b@%s", got, t0)
	}
	for _, r := range list(t, s, storage.RunFilter{Job: "b", Status: jobs.StatusSkipped}) {
		if r.Error != skipReason(got[0].ID) {
			t.Fatalf("in-batch skip has error %q, want %q", r.Error, skipReason(got[0].ID))
		}
	}
	if n := len(list(t, s, storage.RunFilter{Job: "b"})); n != 3 {
		t.Fatalf("job b has %d rows, want 3", n)
	}

	// A running run blocks too; once it ends, the next tick runs.
	r1 = claim(t, s, r1, "n1", now, now.Add(time.Minute))
	if got := dispatch(t, s, e, now, forbid("a", now.Add(time.Minute))); len(got) != 0 {
		t.Fatalf("forbid with a running run returned %d runs, want 0", len(got))
	}
	if _, err := s.Finish(ctx, storage.FinishParams{RunID: r1.ID, Attempt: 1, Node: "n1", Status: jobs.StatusSucceeded, FinishedAt: now}); err != nil {
		t.Fatal(err)
	}
	if got := dispatch(t, s, e, now, forbid("a", now.Add(2*time.Minute))); len(got) != 1 {
		t.Fatalf("forbid after the run ended returned %d runs, want 1", len(got))
	}

	// A manual run waiting for promotion is active as well.
	m, err := s.Trigger(ctx, "c", t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := dispatch(t, s, e, now, forbid("c", now)); len(got) != 0 {
		t.Fatalf("forbid with a scheduled manual run returned %d runs, want 0", len(got))
	}
	if sk := list(t, s, storage.RunFilter{Job: "c", Status: jobs.StatusSkipped}); len(sk) != 1 || sk[0].Error != skipReason(m.ID) {
		t.Fatalf("skip of c = %+v, want error %q", sk, skipReason(m.ID))
	}
}

func testReplace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	replace := func(job string, at time.Time) storage.NewRun {
		return with(nr(job, at), func(r *storage.NewRun) { r.Concurrency = jobs.ConcurrencyReplace })
	}
	now := t0.Add(10 * time.Minute)
	running := claim(t, s, queue(t, s, e, nr("a", t0)), "n1", t0, now.Add(time.Hour))
	queued := queue(t, s, e, nr("a", t0.Add(time.Minute)))
	other := queue(t, s, e, nr("b", t0))

	got := dispatch(t, s, e, now, replace("a", now))
	if len(got) != 1 {
		t.Fatalf("replace returned %d runs, want 1", len(got))
	}
	queued.Status, queued.Error, queued.FinishedAt = jobs.StatusCanceled, "replaced by a newer run", &now
	checkStored(t, s, queued)
	running.CancelRequested = true
	checkStored(t, s, running)
	checkStored(t, s, other)
	cancel, err := s.Heartbeat(ctx, storage.HeartbeatParams{RunID: running.ID, Attempt: 1, Node: "n1", LeaseUntil: now.Add(time.Hour)})
	if err != nil || !cancel {
		t.Fatalf("Heartbeat of the replaced running run = (%t, %v), want (true, nil)", cancel, err)
	}

	// Within one batch the last row replaces the earlier ones.
	got = dispatch(t, s, e, now, replace("c", t0), replace("c", now))
	if len(got) != 1 || !got[0].ScheduledAt.Equal(now) {
		t.Fatalf("replace batch returned %+v, want only c@%s", got, now)
	}
	first := list(t, s, storage.RunFilter{Job: "c", Until: now})
	if len(first) != 1 || first[0].Status != jobs.StatusCanceled || first[0].Error != "replaced by a newer run" {
		t.Fatalf("earlier row of the batch = %+v, want canceled as replaced", first)
	}
}

func testAllow(t *testing.T, s storage.Store) {
	e := bump(t, s)
	claim(t, s, queue(t, s, e, nr("a", t0)), "n1", t0, t0.Add(time.Hour))
	if got := dispatch(t, s, e, t0, nr("a", t0.Add(time.Minute)), nr("a", t0.Add(2*time.Minute))); len(got) != 2 {
		t.Fatalf("allow returned %d runs, want 2", len(got))
	}
}

func testCursors(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	advance := func(cursors map[string]time.Time) {
		t.Helper()
		if _, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: e, Now: t0, Cursors: cursors}); err != nil {
			t.Fatalf("Dispatch(cursors %v): %v", cursors, err)
		}
	}
	check := func(want map[string]storage.JobState) {
		t.Helper()
		got, err := s.JobStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("JobStates = %v, want %v", got, want)
		}
		wantPaused := map[string]bool{}
		for name, w := range want {
			g := got[name]
			if g.Job != w.Job || g.Paused != w.Paused || !g.Cursor.Equal(w.Cursor) {
				t.Fatalf("JobStates[%s] = %+v, want %+v", name, g, w)
			}
			if w.Paused {
				wantPaused[name] = true
			}
		}
		paused, err := s.PausedJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(paused, wantPaused) {
			t.Fatalf("PausedJobs = %v, want %v", paused, wantPaused)
		}
	}
	check(map[string]storage.JobState{})
	advance(map[string]time.Time{"a": t0.Add(time.Minute), "b": t0})
	check(map[string]storage.JobState{"a": {Job: "a", Cursor: t0.Add(time.Minute)}, "b": {Job: "b", Cursor: t0}})
	advance(map[string]time.Time{"a": t0, "b": t0.Add(time.Hour)}) // a never moves back
	check(map[string]storage.JobState{"a": {Job: "a", Cursor: t0.Add(time.Minute)}, "b": {Job: "b", Cursor: t0.Add(time.Hour)}})

	if err := s.SetPaused(ctx, "a", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPaused(ctx, "c", true); err != nil {
		t.Fatal(err)
	}
	check(map[string]storage.JobState{"a": {Job: "a", Paused: true, Cursor: t0.Add(time.Minute)},
		"b": {Job: "b", Cursor: t0.Add(time.Hour)}, "c": {Job: "c", Paused: true}})
	advance(map[string]time.Time{"c": t0, "a": t0.Add(2 * time.Minute)}) // cursors keep the pause
	if err := s.SetPaused(ctx, "a", false); err != nil {
		t.Fatal(err)
	}
	check(map[string]storage.JobState{"a": {Job: "a", Cursor: t0.Add(2 * time.Minute)},
		"b": {Job: "b", Cursor: t0.Add(time.Hour)}, "c": {Job: "c", Paused: true, Cursor: t0}})
}

// testCursorsMany advances the cursors of a few thousand jobs in one
// Dispatch, new rows and then existing ones: the stores cut such writes into
// chunks (and SQLite reuses a prepared statement for the full ones), and
// every row must land, the last partial chunk included, never moving a
// cursor back.
func testCursorsMany(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	const n = 2345
	first, second := map[string]time.Time{}, map[string]time.Time{}
	for i := range n {
		name := fmt.Sprintf("job-%05d", i)
		first[name] = t0.Add(time.Duration(i) * time.Second)
		// Odd jobs move on, even ones are offered an older cursor.
		second[name] = t0.Add(time.Duration(i+1-2*(i%2)) * time.Hour)
		if i%2 == 0 {
			second[name] = t0.Add(-time.Hour)
		}
	}
	for _, c := range []map[string]time.Time{first, second} {
		if _, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: e, Now: t0, Cursors: c}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.JobStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("JobStates holds %d jobs, want %d", len(got), n)
	}
	for name, at := range first {
		want := at
		if second[name].After(at) {
			want = second[name]
		}
		if !got[name].Cursor.Equal(want) {
			t.Fatalf("cursor of %s = %v, want %v", name, got[name].Cursor, want)
		}
	}
}

// testCursorsProvenByRows checks that a cursor equal to a tick row of its
// batch counts whether or not the store writes it, that a cursor never
// moves back below a row's tick, and that pruning the rows that prove a
// cursor does not move it back either (I1).
func testCursorsProvenByRows(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	cursor := func() time.Time {
		t.Helper()
		got, err := s.JobStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got["a"].Cursor
	}
	missed := func(at time.Time) storage.NewRun {
		return with(nr("a", at), func(r *storage.NewRun) { r.Status, r.Error = jobs.StatusMissed, "missed" })
	}
	// First sight: a cursor with no row.
	if _, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: e, Now: t0, Cursors: map[string]time.Time{"a": t0}}); err != nil {
		t.Fatal(err)
	}
	m1, m2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	if _, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: e, Now: m2, Runs: []storage.NewRun{missed(m1), missed(m2)},
		Cursors: map[string]time.Time{"a": m2}}); err != nil {
		t.Fatal(err)
	}
	if got := cursor(); !got.Equal(m2) {
		t.Fatalf("cursor after rows up to %s = %s", m2, got)
	}
	// A later row without a cursor still counts: the row is the tick.
	m3 := t0.Add(3 * time.Minute)
	if _, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: e, Now: m3, Runs: []storage.NewRun{missed(m3)},
		Cursors: map[string]time.Time{"a": m3}}); err != nil {
		t.Fatal(err)
	}
	if got := cursor(); !got.Equal(m3) {
		t.Fatalf("cursor after the row at %s = %s", m3, got)
	}
	// Pruning every row keeps the cursor.
	n, err := s.Prune(ctx, storage.PruneParams{Before: t0.Add(time.Hour)})
	if err != nil || n != 3 {
		t.Fatalf("Prune = %d, %v; want 3 rows deleted", n, err)
	}
	if got := cursor(); !got.Equal(m3) {
		t.Fatalf("cursor after pruning the rows up to %s = %s", m3, got)
	}
}

func testTimePrecision(t *testing.T, s storage.Store) {
	e := bump(t, s)
	berlin := time.FixedZone("CET", 3600)
	at := time.Date(2031, 7, 8, 9, 10, 11, 987654321, berlin)
	got := dispatch(t, s, e, at, with(nr("a", at), func(r *storage.NewRun) { r.NotBefore = at.Add(1500 * time.Nanosecond) }))
	want := at.UTC().Truncate(time.Microsecond)
	stored, _ := get(t, s, got[0].ID)
	for name, v := range map[string]time.Time{"returned ScheduledAt": got[0].ScheduledAt, "stored ScheduledAt": stored.ScheduledAt,
		"stored CreatedAt": stored.CreatedAt} {
		if !v.Equal(want) || v.Location() != time.UTC {
			t.Fatalf("%s = %s, want %s in UTC", name, v, want)
		}
	}
	if nb := stored.NotBefore; !nb.Equal(want.Add(time.Microsecond)) {
		t.Fatalf("stored NotBefore = %s, want %s", nb, want.Add(time.Microsecond))
	}
	// Microseconds order and filter correctly.
	dispatch(t, s, e, at, nr("a", at.Add(time.Microsecond)))
	if r := list(t, s, storage.RunFilter{Since: want.Add(time.Microsecond)}); len(r) != 1 {
		t.Fatalf("Since one microsecond later matched %d runs, want 1", len(r))
	}
}
