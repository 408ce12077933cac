package storetest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var triggerCases = []testCase{
	{"TriggerAtNotPromotedBeforeDue", testTriggerAt},
	{"TriggerParamsResolvedOnPromotion", testTriggerParams},
	{"BackfillIdempotent", testBackfillIdempotent},
	{"BackfillNeedsCursor", testBackfillNoCursor},
	{"BackfillConcurrent", testBackfillConcurrent},
	{"CancelBackfill", testCancelBackfill},
	{"BackfillMaxConcurrent", testBackfillMaxConcurrent},
	{"WaitingRunsDoNotBlockForbid", testWaitingRunsAndForbid},
}

// paramJob is a job declaring day (default "today", pattern of letters)
// and a required id.
func paramJob(t *testing.T, name string) *jobs.Job {
	t.Helper()
	def := "today"
	day, err := jobs.NewParam("day", &def, "[a-z]+")
	if err != nil {
		t.Fatal(err)
	}
	id, err := jobs.NewParam("id", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return &jobs.Job{Name: name, Digest: "d-" + name, Settings: &jobs.Settings{Params: &jobs.ParamSpec{List: []jobs.Param{day, id}}}}
}

func promote(t *testing.T, s storage.Store, epoch int64, now time.Time, defs ...*jobs.Job) []jobs.Run {
	t.Helper()
	byName := map[string]*jobs.Job{}
	for _, j := range defs {
		byName[j.Name] = j
	}
	got, err := s.PromoteScheduled(t.Context(), storage.PromoteParams{Epoch: epoch, Now: now, Job: func(n string) *jobs.Job { return byName[n] }})
	if err != nil {
		t.Fatalf("PromoteScheduled at %s: %v", now, err)
	}
	return got
}

// testTriggerAt: a run triggered for later waits as scheduled, is not
// promoted before it is due, can be canceled while it waits, and is
// promoted once due.
func testTriggerAt(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	due := t0.Add(time.Hour)
	later, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "a", At: due, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	want := jobs.Run{ID: later.ID, Job: "a", ScheduledAt: due, Trigger: jobs.TriggerManual, Status: jobs.StatusScheduled,
		MaxAttempts: 1, NotBefore: due, CreatedAt: t0}
	checkRun(t, "TriggerRun", later, want)
	checkStored(t, s, want)
	doomed, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "a", At: due, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	now, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "a", At: t0, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	a := &jobs.Job{Name: "a", Digest: "dA"}
	got := promote(t, s, e, t0.Add(time.Second), a)
	if len(got) != 1 || got[0].ID != now.ID {
		t.Fatalf("promotion before the later runs are due = %v, want only run %d", ids(got), now.ID)
	}
	if got := promote(t, s, e, due.Add(-time.Microsecond), a); len(got) != 0 {
		t.Fatalf("promotion a microsecond before due = %v, want none", ids(got))
	}
	checkStored(t, s, want)
	if c, err := s.RequestCancel(ctx, doomed.ID, t0.Add(time.Minute)); err != nil || c.Status != jobs.StatusCanceled {
		t.Fatalf("RequestCancel of a waiting run = (%s, %v), want canceled", c.Status, err)
	}
	got = promote(t, s, e, due, a)
	if len(got) != 1 || got[0].ID != later.ID {
		t.Fatalf("promotion when due = %v, want run %d (and not the canceled %d)", ids(got), later.ID, doomed.ID)
	}
	want.Status, want.Digest, want.NotBefore = jobs.StatusQueued, "dA", due
	checkStored(t, s, want)
	if c, _ := get(t, s, doomed.ID); c.Status != jobs.StatusCanceled {
		t.Fatalf("canceled waiting run is %s", c.Status)
	}
}

// testTriggerParams: the params a trigger sets are stored as given and,
// on promotion, resolved against the leader's definition (defaults filled
// in); params that definition refuses fail the run with the reason.
func testTriggerParams(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	j := paramJob(t, "p")
	good, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "p", At: t0, Params: map[string]string{"id": "42"}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := get(t, s, good.ID); !maps.Equal(r.Params, map[string]string{"id": "42"}) {
		t.Fatalf("stored params = %v, want as given", r.Params)
	}
	bad, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "p", At: t0, Params: map[string]string{"id": "1", "day": "Monday1"}})
	if err != nil {
		t.Fatal(err)
	}
	missing, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "p", At: t0})
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Second)
	got := promote(t, s, e, now, j)
	if len(got) != 1 || got[0].ID != good.ID {
		t.Fatalf("promoted %v, want only run %d", ids(got), good.ID)
	}
	full := map[string]string{"id": "42", "day": "today"}
	if !maps.Equal(got[0].Params, full) {
		t.Fatalf("promoted params = %v, want %v", got[0].Params, full)
	}
	if r, _ := get(t, s, good.ID); !maps.Equal(r.Params, full) {
		t.Fatalf("stored params after promotion = %v, want %v", r.Params, full)
	}
	for id, want := range map[int64]string{
		bad.ID:     `params refused by the leader's config: param "day": value "Monday1" does not match pattern "[a-z]+"`,
		missing.ID: `params refused by the leader's config: param "id": required: the job declares it without a default`,
	} {
		r, _ := get(t, s, id)
		if r.Status != jobs.StatusFailed || r.Error != want {
			t.Fatalf("run %d = %s %q, want failed %q", id, r.Status, r.Error, want)
		}
	}
}

// backfillSetup has the leader see job first at t0-3m, then dispatches its
// ticks at t0-2m, t0-1m and t0 (the cursor ends at t0), and returns the
// epoch and the run of t0-1m.
func backfillSetup(t *testing.T, s storage.Store, job string) (int64, jobs.Run) {
	t.Helper()
	e := bump(t, s)
	if _, err := s.Dispatch(t.Context(), storage.DispatchParams{Epoch: e, Now: t0.Add(-3 * time.Minute),
		Cursors: map[string]time.Time{job: t0.Add(-3 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Dispatch(t.Context(), storage.DispatchParams{Epoch: e, Now: t0,
		Runs:    []storage.NewRun{nr(job, t0.Add(-2*time.Minute)), nr(job, t0.Add(-time.Minute)), nr(job, t0)},
		Cursors: map[string]time.Time{job: t0}})
	if err != nil || len(got) != 3 {
		t.Fatalf("Dispatch = (%d, %v), want 3 runs", len(got), err)
	}
	return e, got[1]
}

func minuteTicks(from time.Time, n int) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = from.Add(time.Duration(i) * time.Minute)
	}
	return out
}

// testBackfillIdempotent: a backfill creates one scheduled backfill run
// per tick without a row, reports the ticks that have one, leaves ticks
// after the cursor to the scheduler, and run again creates nothing.
func testBackfillIdempotent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, present := backfillSetup(t, s, "b")
	from := t0.Add(-1200 * time.Minute) // more ticks than one transaction takes
	ticks := minuteTicks(from, 1203)    // up to t0+2m: two after the cursor
	p := storage.BackfillParams{Job: "b", From: from, To: ticks[len(ticks)-1], Ticks: ticks, MaxConcurrent: 3, Actor: "test", Now: t0.Add(time.Hour)}
	res, err := s.Backfill(ctx, p)
	if err != nil {
		t.Fatalf("Backfill: %v", err)
	}
	if res.ID == 0 || res.Created != 1198 || res.Present != 3 || res.LeftToScheduler != 2 || !res.Cursor.Equal(t0) {
		t.Fatalf("Backfill = id %d created %d present %d left %d cursor %s; want created 1198, present 3, left 2, cursor %s",
			res.ID, res.Created, res.Present, res.LeftToScheduler, res.Cursor, t0)
	}
	if res.PresentByStatus[jobs.StatusQueued] != 3 || len(res.Examples) != 3 || res.Examples[1].RunID != present.ID || res.Examples[1].Trigger != jobs.TriggerSchedule {
		t.Fatalf("present = %v, examples %+v; want 3 queued, run %d second", res.PresentByStatus, res.Examples, present.ID)
	}
	bf := list(t, s, storage.RunFilter{Job: "b", Trigger: jobs.TriggerBackfill, Limit: 1000})
	if len(bf) != 1000 {
		t.Fatalf("listed %d backfill runs (limit 1000), want 1000", len(bf))
	}
	r := bf[len(bf)-1]
	if r.Status != jobs.StatusScheduled || r.BackfillID != res.ID || r.Digest != "" {
		t.Fatalf("backfill run = %+v, want scheduled, backfill %d", r, res.ID)
	}
	p.MaxConcurrent, p.Now = 5, p.Now.Add(time.Minute)
	again, err := s.Backfill(ctx, p)
	if err != nil {
		t.Fatalf("Backfill again: %v", err)
	}
	if again.ID != res.ID || again.Created != 0 || again.Present != 1201 || again.PresentByStatus[jobs.StatusScheduled] != 1198 {
		t.Fatalf("Backfill again = id %d created %d present %d (%v); want id %d, 0 created, 1201 present, 1198 scheduled",
			again.ID, again.Created, again.Present, again.PresentByStatus, res.ID)
	}
	// A run of the scheduler at a backfilled tick is not inserted (I1).
	e := bump(t, s)
	if got := dispatch(t, s, e, t0, nr("b", from)); len(got) != 0 {
		t.Fatalf("Dispatch of a backfilled tick inserted %d runs", len(got))
	}
	// The cursor did not move past the scheduler's.
	st, err := s.JobStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st["b"].Cursor.Equal(t0) {
		t.Fatalf("cursor after backfill = %s, want %s", st["b"].Cursor, t0)
	}
}

func testBackfillNoCursor(t *testing.T, s storage.Store) {
	_, err := s.Backfill(t.Context(), storage.BackfillParams{Job: "new", From: t0, To: t0, Ticks: []time.Time{t0}, Now: t0})
	wantErr(t, "Backfill of a job without a cursor", err, storage.ErrNotFound)
	if got := list(t, s, storage.RunFilter{Job: "new", Limit: 10}); len(got) != 0 {
		t.Fatalf("Backfill without a cursor wrote %d runs", len(got))
	}
}

// testBackfillMaxConcurrent: the leader keeps at most max_concurrent of a
// backfill's runs queued or running, promotes them in tick order, and
// manual runs are not held back by a throttled backfill.
func testBackfillMaxConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e, _ := backfillSetup(t, s, "c")
	from := t0.Add(-10 * time.Minute)
	ticks := minuteTicks(from, 5)
	res, err := s.Backfill(ctx, storage.BackfillParams{Job: "c", From: from, To: ticks[4], Ticks: ticks, MaxConcurrent: 2, Now: t0})
	if err != nil || res.Created != 5 {
		t.Fatalf("Backfill = (%+v, %v), want 5 created", res, err)
	}
	manual, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "c", At: t0, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	c := &jobs.Job{Name: "c", Digest: "d-c", Settings: &jobs.Settings{Retries: 1}}
	now := t0.Add(time.Second)
	got := promote(t, s, e, now, c)
	var bf []jobs.Run
	sawManual := false
	for _, r := range got {
		if r.ID == manual.ID {
			sawManual = true
			continue
		}
		bf = append(bf, r)
	}
	if !sawManual || len(bf) != 2 || !bf[0].ScheduledAt.Equal(ticks[0]) || !bf[1].ScheduledAt.Equal(ticks[1]) {
		t.Fatalf("first promotion: manual %v, backfill %v; want the manual run and the ticks %s, %s", sawManual, bf, ticks[0], ticks[1])
	}
	if bf[0].Digest != "d-c" || bf[0].MaxAttempts != 2 || bf[0].Status != jobs.StatusQueued || bf[0].Params != nil {
		t.Fatalf("promoted backfill run = %+v, want queued with the job's digest and budget", bf[0])
	}
	if more := promote(t, s, e, now, c); len(more) != 0 {
		t.Fatalf("promotion with 2 of 2 active = %v, want none", ids(more))
	}
	running := claim(t, s, bf[0], "n1", now, now.Add(time.Minute))
	if more := promote(t, s, e, now, c); len(more) != 0 {
		t.Fatalf("promotion with one queued and one running of 2 = %v, want none", ids(more))
	}
	if _, err := s.Finish(ctx, storage.FinishParams{RunID: running.ID, Attempt: 1, Node: "n1", Status: jobs.StatusSucceeded, FinishedAt: now}); err != nil {
		t.Fatal(err)
	}
	more := promote(t, s, e, now, c)
	if len(more) != 1 || !more[0].ScheduledAt.Equal(ticks[2]) {
		t.Fatalf("promotion after one finished = %v, want the tick %s", more, ticks[2])
	}
	// A paused job's backfill waits (a canceled run of it frees a place).
	if _, err := s.RequestCancel(ctx, bf[1].ID, now); err != nil {
		t.Fatal(err)
	}
	held, err := s.PromoteScheduled(ctx, storage.PromoteParams{Epoch: e, Now: now, Job: func(string) *jobs.Job { return c },
		Paused: func(name string) bool { return name == "c" }})
	if err != nil || len(held) != 0 {
		t.Fatalf("promotion of a paused job's backfill = (%v, %v), want none", ids(held), err)
	}
	more = promote(t, s, e, now, c)
	if len(more) != 1 || !more[0].ScheduledAt.Equal(ticks[3]) {
		t.Fatalf("promotion after resume = %v, want the tick %s", more, ticks[3])
	}
	// A backfill changes its bound when run again over the same range.
	if _, err := s.Backfill(ctx, storage.BackfillParams{Job: "c", From: from, To: ticks[4], Ticks: ticks, MaxConcurrent: 0, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if rest := promote(t, s, e, now, c); len(rest) != 1 || !rest[0].ScheduledAt.Equal(ticks[4]) {
		t.Fatalf("promotion without a bound = %v, want the last tick", rest)
	}
}

// testWaitingRunsAndForbid: runs that wait (trigger --at for later, a
// backfill's) do not make a forbid job skip its ticks, nor does replace
// cancel them.
func testWaitingRunsAndForbid(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e, _ := backfillSetup(t, s, "f")
	// Finish the setup's runs so that only waiting runs remain.
	for _, r := range list(t, s, storage.RunFilter{Job: "f", Status: jobs.StatusQueued, Limit: 10}) {
		if _, err := s.RequestCancel(ctx, r.ID, t0); err != nil {
			t.Fatal(err)
		}
	}
	from := t0.Add(-10 * time.Minute)
	if _, err := s.Backfill(ctx, storage.BackfillParams{Job: "f", From: from, To: from, Ticks: []time.Time{from}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "f", At: t0.Add(time.Hour), Now: t0}); err != nil {
		t.Fatal(err)
	}
	for i, pol := range []jobs.ConcurrencyPolicy{jobs.ConcurrencyForbid, jobs.ConcurrencyReplace} {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		got := dispatch(t, s, e, at, with(nr("f", at), func(r *storage.NewRun) { r.Concurrency = pol }))
		if len(got) != 1 {
			t.Fatalf("%s tick with only waiting runs: %d queued, want 1", pol, len(got))
		}
		if _, err := s.RequestCancel(ctx, got[0].ID, at); err != nil {
			t.Fatal(err)
		}
	}
	if w := list(t, s, storage.RunFilter{Job: "f", Status: jobs.StatusScheduled, Limit: 10}); len(w) != 2 {
		t.Fatalf("waiting runs after the ticks = %d, want 2 (%v)", len(w), fmt.Sprint(ids(w)))
	}
}

// testBackfillConcurrent: backfills racing over overlapping ranges insert
// each tick once, and between them count every tick as created or present.
func testBackfillConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	backfillSetup(t, s, "r")
	from := t0.Add(-2000 * time.Minute)
	ticks := minuteTicks(from, 1998) // up to t0-3m: none of the setup's ticks
	const racers = 4
	results := make([]storage.BackfillResult, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each racer covers all ticks but starts from another end.
			mine := ticks
			if i%2 == 1 {
				mine = slices.Clone(ticks)
				slices.Reverse(mine)
			}
			results[i], errs[i] = s.Backfill(ctx, storage.BackfillParams{Job: "r", From: from, To: ticks[len(ticks)-1],
				Ticks: mine, Now: t0.Add(time.Duration(i) * time.Microsecond)})
		}()
	}
	wg.Wait()
	created := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		if r.Created+r.Present != len(ticks) {
			t.Errorf("racer %d: created %d + present %d != %d ticks", i, r.Created, r.Present, len(ticks))
		}
		created += r.Created
	}
	if created != len(ticks) {
		t.Errorf("racers created %d runs in all, want %d", created, len(ticks))
	}
	var n int
	f := storage.RunFilter{Job: "r", Trigger: jobs.TriggerBackfill, Limit: 1000}
	for {
		page := list(t, s, f)
		n += len(page)
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.Before = &storage.Cursor{ScheduledAt: last.ScheduledAt, ID: last.ID}
	}
	if n != len(ticks) {
		t.Errorf("%d backfill rows, want %d", n, len(ticks))
	}
}

// testCancelBackfill: canceling a backfill cancels its waiting runs, not
// its queued ones nor other runs, and the backfill run again recreates
// none of them.
func testCancelBackfill(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e, scheduled := backfillSetup(t, s, "x")
	from := t0.Add(-1500 * time.Minute)
	ticks := minuteTicks(from, 1200)
	p := storage.BackfillParams{Job: "x", From: from, To: ticks[len(ticks)-1], Ticks: ticks, MaxConcurrent: 2, Now: t0}
	res, err := s.Backfill(ctx, p)
	if err != nil || res.Created != 1200 {
		t.Fatalf("Backfill = (%+v, %v)", res, err)
	}
	queued := promote(t, s, e, t0, &jobs.Job{Name: "x", Digest: "d-x"})
	if len(queued) != 2 {
		t.Fatalf("promoted %d, want 2", len(queued))
	}
	n, err := s.CancelBackfill(ctx, res.ID, t0.Add(time.Second))
	if err != nil || n != 1198 {
		t.Fatalf("CancelBackfill = (%d, %v), want 1198", n, err)
	}
	for _, r := range queued {
		if got, _ := get(t, s, r.ID); got.Status != jobs.StatusQueued {
			t.Errorf("queued run %d of the backfill is %s after the cancel", r.ID, got.Status)
		}
	}
	if got, _ := get(t, s, scheduled.ID); got.Status != jobs.StatusQueued {
		t.Errorf("the scheduler's run %d is %s after the cancel", scheduled.ID, got.Status)
	}
	c := list(t, s, storage.RunFilter{Job: "x", Status: jobs.StatusCanceled, Limit: 1})
	if len(c) != 1 || c[0].Error != fmt.Sprintf("backfill %d canceled before the run started", res.ID) {
		t.Fatalf("canceled run = %+v", c)
	}
	if more := promote(t, s, e, t0.Add(time.Hour), &jobs.Job{Name: "x", Digest: "d-x"}); len(more) != 0 {
		t.Fatalf("promotion after the cancel = %v", ids(more))
	}
	again, err := s.Backfill(ctx, p)
	if err != nil || again.Created != 0 || again.PresentByStatus[jobs.StatusCanceled] != 1198 {
		t.Fatalf("Backfill after the cancel = (%+v, %v), want nothing created, 1198 canceled present", again, err)
	}
	_, err = s.CancelBackfill(ctx, res.ID+100, t0)
	wantErr(t, "CancelBackfill of an unknown backfill", err, storage.ErrNotFound)
}
