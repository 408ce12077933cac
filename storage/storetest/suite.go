package storetest

import (
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// t0 is the suite's reference time: not UTC-midnight-aligned, with
// microseconds, in the future so no real clock interferes.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC)

type testCase struct {
	name string
	fn   func(t *testing.T, s storage.Store)
}

// RunSuite runs the conformance tests of storage.Store against the stores
// open returns. open is called once per test, in parallel tests, and must
// return an open store on its own empty database (migrated or not: the
// suite calls Migrate); it should close it in t.Cleanup.
func RunSuite(t *testing.T, open func(t *testing.T) storage.Store) {
	var cases []testCase
	for _, group := range [][]testCase{basicCases, dispatchCases, lifecycleCases, batchCases, reapCases, queryCases, pruneCases, placementCases, depsCases, triggerCases, claimDueCases, auditCases, traceCases, outputCases} {
		cases = append(cases, group...)
	}
	run := func(t *testing.T, tc testCase) {
		s := open(t)
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		tc.fn(t, s)
	}
	// The group returns once its parallel tests are done, so the timing
	// below runs alone.
	t.Run("Contract", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				run(t, tc)
			})
		}
	})
	t.Run("DispatchTiming", func(t *testing.T) { run(t, testCase{"DispatchTiming", testDispatchTiming}) })
}

var basicCases = []testCase{
	{"MigrateTwiceAndPing", testMigrateTwice},
	{"EpochAndLeader", testEpochAndLeader},
	{"Watermark", testWatermark},
	{"LeaseRow", testLeaseRow},
	{"Now", testNow},
}

// testNow: the store's clock (I9) answers UTC near this process's clock
// (every engine of the suite runs on this machine) and does not go back.
func testNow(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a, err := s.Now(ctx)
	if err != nil {
		t.Fatalf("Now: %v", err)
	}
	if a.Location() != time.UTC {
		t.Fatalf("Now = %s, want UTC", a)
	}
	if d := time.Since(a); d.Abs() > 5*time.Second {
		t.Fatalf("Now = %s, %s off this machine's clock", a, d)
	}
	b, err := s.Now(ctx)
	if err != nil {
		t.Fatalf("Now: %v", err)
	}
	if b.Before(a) {
		t.Fatalf("Now went back: %s then %s", a, b)
	}
}

func testMigrateTwice(t *testing.T, s storage.Store) {
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// The schema is usable after the second run: nothing was applied twice.
	e := bump(t, s)
	if got := dispatch(t, s, e, t0, nr("a", t0)); len(got) != 1 {
		t.Fatalf("Dispatch after second Migrate returned %d runs, want 1", len(got))
	}
}

func testEpochAndLeader(t *testing.T, s storage.Store) {
	ctx := t.Context()
	node, epoch, err := s.Leader(ctx)
	if err != nil || node != "" || epoch != 0 {
		t.Fatalf("Leader before any election = (%q, %d, %v), want (\"\", 0, nil)", node, epoch, err)
	}
	for i, n := range []string{"n1", "n2", "n1"} {
		e, err := s.BumpEpoch(ctx, n)
		if err != nil {
			t.Fatalf("BumpEpoch(%s): %v", n, err)
		}
		if e != int64(i+1) {
			t.Fatalf("BumpEpoch #%d = %d, want %d", i+1, e, i+1)
		}
		node, epoch, err := s.Leader(ctx)
		if err != nil || node != n || epoch != e {
			t.Fatalf("Leader = (%q, %d, %v), want (%q, %d, nil)", node, epoch, err, n, e)
		}
	}
}

// testWatermark: a dispatch records its watermark with its rows, a
// fenced-out leader records nothing, and a dispatch without one leaves the
// last in place.
func testWatermark(t *testing.T, s storage.Store) {
	ctx := t.Context()
	if w, err := s.Watermark(ctx); err != nil || w != (storage.Watermark{}) {
		t.Fatalf("Watermark before any = (%+v, %v), want zero", w, err)
	}
	old := bump(t, s)
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	want := storage.Watermark{At: at.Truncate(time.Microsecond), Schedule: "s1"}
	if _, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: old, Now: at, Runs: []storage.NewRun{nr("a", at)},
		Watermark: &storage.Watermark{At: at, Schedule: "s1"}}); err != nil {
		t.Fatalf("Dispatch: %v", err)
	}
	check := func(what string) {
		t.Helper()
		w, err := s.Watermark(ctx)
		if err != nil || !w.At.Equal(want.At) || w.Schedule != want.Schedule {
			t.Fatalf("%s: Watermark = (%+v, %v), want %+v", what, w, err, want)
		}
	}
	check("after a dispatch")
	cur := bump(t, s)
	_, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: old, Now: at.Add(time.Second),
		Watermark: &storage.Watermark{At: at.Add(time.Second), Schedule: "s2"}})
	wantErr(t, "Dispatch of a fenced epoch", err, storage.ErrFenced)
	check("after a fenced dispatch")
	dispatch(t, s, cur, at.Add(2*time.Second), nr("a", at.Add(2*time.Second)))
	check("after a dispatch without a watermark")
	want = storage.Watermark{At: at.Add(3 * time.Second).Truncate(time.Microsecond), Schedule: "s2"}
	if _, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: cur, Now: at.Add(3 * time.Second),
		Watermark: &storage.Watermark{At: at.Add(3 * time.Second), Schedule: "s2"}}); err != nil {
		t.Fatalf("Dispatch of nothing but a watermark: %v", err)
	}
	check("after a dispatch of nothing but a watermark")
}

// --- helpers -------------------------------------------------------------

func bump(t *testing.T, s storage.Store) int64 {
	t.Helper()
	e, err := s.BumpEpoch(t.Context(), "leader")
	if err != nil {
		t.Fatalf("BumpEpoch: %v", err)
	}
	return e
}

// nr is a queued schedule run of job at at, digest "d-"+job, one attempt,
// concurrency allow, due at once.
func nr(job string, at time.Time) storage.NewRun {
	return storage.NewRun{Job: job, Digest: "d-" + job, ScheduledAt: at, Trigger: jobs.TriggerSchedule,
		Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: at, Concurrency: jobs.ConcurrencyAllow}
}

func with(r storage.NewRun, f func(*storage.NewRun)) storage.NewRun {
	f(&r)
	return r
}

func dispatch(t *testing.T, s storage.Store, epoch int64, now time.Time, runs ...storage.NewRun) []jobs.Run {
	t.Helper()
	got, err := s.Dispatch(t.Context(), storage.DispatchParams{Epoch: epoch, Now: now, Runs: runs})
	if err != nil {
		t.Fatalf("Dispatch: %v", err)
	}
	return got
}

// queue dispatches one queued run and returns it.
func queue(t *testing.T, s storage.Store, epoch int64, r storage.NewRun) jobs.Run {
	t.Helper()
	got := dispatch(t, s, epoch, r.ScheduledAt, r)
	if len(got) != 1 {
		t.Fatalf("Dispatch of one new run returned %d runs", len(got))
	}
	return got[0]
}

func claim(t *testing.T, s storage.Store, r jobs.Run, node string, now, lease time.Time) jobs.Run {
	t.Helper()
	got, err := ClaimOne(t.Context(), s, storage.ClaimParams{RunID: r.ID, Job: r.Job, Digest: r.Digest, Node: node, Now: now, LeaseUntil: lease})
	if err != nil {
		t.Fatalf("ClaimOne(run %d): %v", r.ID, err)
	}
	return got
}

func get(t *testing.T, s storage.Store, id int64) (jobs.Run, []jobs.Attempt) {
	t.Helper()
	r, atts, err := s.GetRun(t.Context(), id)
	if err != nil {
		t.Fatalf("GetRun(%d): %v", id, err)
	}
	return r, atts
}

func list(t *testing.T, s storage.Store, f storage.RunFilter) []jobs.Run {
	t.Helper()
	got, err := s.ListRuns(t.Context(), f)
	if err != nil {
		t.Fatalf("ListRuns(%+v): %v", f, err)
	}
	return got
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func ptime(t time.Time) *time.Time { return &t }
func pint(i int) *int              { return &i }

// diffRun lists the fields where got differs from want.
func diffRun(got, want jobs.Run) []string {
	var d []string
	cmp := func(name string, eq bool, g, w any) {
		if !eq {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	cmp("ID", got.ID == want.ID, got.ID, want.ID)
	cmp("Job", got.Job == want.Job, got.Job, want.Job)
	cmp("Digest", got.Digest == want.Digest, got.Digest, want.Digest)
	cmp("ScheduledAt", got.ScheduledAt.Equal(want.ScheduledAt), got.ScheduledAt, want.ScheduledAt)
	cmp("Trigger", got.Trigger == want.Trigger, got.Trigger, want.Trigger)
	cmp("Status", got.Status == want.Status, got.Status, want.Status)
	cmp("Attempt", got.Attempt == want.Attempt, got.Attempt, want.Attempt)
	cmp("MaxAttempts", got.MaxAttempts == want.MaxAttempts, got.MaxAttempts, want.MaxAttempts)
	cmp("Node", got.Node == want.Node, got.Node, want.Node)
	cmp("NotBefore", got.NotBefore.Equal(want.NotBefore), got.NotBefore, want.NotBefore)
	cmp("CreatedAt", got.CreatedAt.Equal(want.CreatedAt), got.CreatedAt, want.CreatedAt)
	cmp("StartedAt", eqTime(got.StartedAt, want.StartedAt), fmtTime(got.StartedAt), fmtTime(want.StartedAt))
	cmp("FinishedAt", eqTime(got.FinishedAt, want.FinishedAt), fmtTime(got.FinishedAt), fmtTime(want.FinishedAt))
	cmp("ExitCode", eqInt(got.ExitCode, want.ExitCode), fmtInt(got.ExitCode), fmtInt(want.ExitCode))
	cmp("Error", got.Error == want.Error, got.Error, want.Error)
	cmp("CancelRequested", got.CancelRequested == want.CancelRequested, got.CancelRequested, want.CancelRequested)
	cmp("Shard", got.Shard == want.Shard, got.Shard, want.Shard)
	cmp("ShardTotal", got.ShardTotal == want.ShardTotal, got.ShardTotal, want.ShardTotal)
	cmp("PinnedNode", got.PinnedNode == want.PinnedNode, got.PinnedNode, want.PinnedNode)
	cmp("RunOnLabels", got.RunOnLabels == want.RunOnLabels, got.RunOnLabels, want.RunOnLabels)
	cmp("Params", maps.Equal(got.Params, want.Params), got.Params, want.Params)
	cmp("BackfillID", got.BackfillID == want.BackfillID, got.BackfillID, want.BackfillID)
	return d
}

func checkRun(t *testing.T, what string, got, want jobs.Run) {
	t.Helper()
	if d := diffRun(got, want); len(d) > 0 {
		t.Fatalf("%s: run %d differs:\n%v", what, want.ID, d)
	}
}

// checkStored checks that GetRun returns want.
func checkStored(t *testing.T, s storage.Store, want jobs.Run) {
	t.Helper()
	got, _ := get(t, s, want.ID)
	checkRun(t, "stored", got, want)
}

func eqTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func eqInt(a, b *int) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "<nil>"
	}
	return t.Format(time.RFC3339Nano)
}

func fmtInt(i *int) string {
	if i == nil {
		return "<nil>"
	}
	return fmt.Sprint(*i)
}

func checkAttempt(t *testing.T, got, want jobs.Attempt) {
	t.Helper()
	var d []string
	if got.RunID != want.RunID || got.Number != want.Number || got.Node != want.Node || got.Status != want.Status {
		d = append(d, fmt.Sprintf("(run, number, node, status) = (%d, %d, %q, %s), want (%d, %d, %q, %s)",
			got.RunID, got.Number, got.Node, got.Status, want.RunID, want.Number, want.Node, want.Status))
	}
	if !got.StartedAt.Equal(want.StartedAt) || !got.LeaseUntil.Equal(want.LeaseUntil) || !eqTime(got.FinishedAt, want.FinishedAt) {
		d = append(d, fmt.Sprintf("(started, lease, finished) = (%s, %s, %s), want (%s, %s, %s)",
			got.StartedAt, got.LeaseUntil, fmtTime(got.FinishedAt), want.StartedAt, want.LeaseUntil, fmtTime(want.FinishedAt)))
	}
	if !eqInt(got.ExitCode, want.ExitCode) || got.Error != want.Error || got.Output != want.Output || got.OutputDropped != want.OutputDropped {
		d = append(d, fmt.Sprintf("(exit, error, output, dropped) = (%s, %q, %q, %d), want (%s, %q, %q, %d)",
			fmtInt(got.ExitCode), got.Error, got.Output, got.OutputDropped, fmtInt(want.ExitCode), want.Error, want.Output, want.OutputDropped))
	}
	if got.Epoch != want.Epoch {
		d = append(d, fmt.Sprintf("epoch = %d, want %d", got.Epoch, want.Epoch))
	}
	if len(d) > 0 {
		t.Fatalf("attempt %d of run %d differs:\n%v", want.Number, want.RunID, d)
	}
}
