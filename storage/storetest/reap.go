package storetest

import (
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var reapCases = []testCase{
	{"ReapExpired", testReapExpired},
	{"RecoverNode", testRecoverNode},
	{"DueQueued", testDueQueued},
	{"FailUnclaimed", testFailUnclaimed},
	{"ReapClaimedAheadKeepsNotBefore", testReapClaimedAhead},
}

// testReapClaimedAhead: a run claimed ahead of its tick whose attempt is
// reaped before the tick is retried at the tick, never early.
func testReapClaimedAhead(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	tick := t0.Add(time.Minute)
	r := dispatch(t, s, e, t0, with(nr("ahead", tick), func(r *storage.NewRun) { r.MaxAttempts = 2 }))[0]
	got, err := ClaimOne(ctx, s, storage.ClaimParams{RunID: r.ID, Job: r.Job, Digest: r.Digest, Node: "n1",
		Now: t0, Horizon: tick, LeaseUntil: t0.Add(3 * time.Second)})
	if err != nil {
		t.Fatalf("claiming ahead: %v", err)
	}
	if got.Status != jobs.StatusRunning {
		t.Fatalf("claimed ahead: %s", got.Status)
	}
	reaped, err := s.ReapExpired(ctx, storage.ReapParams{Epoch: e, Now: t0.Add(10 * time.Second)})
	if err != nil || len(reaped) != 1 {
		t.Fatalf("ReapExpired = %v, %v; want the run", reaped, err)
	}
	after, _ := get(t, s, r.ID)
	if after.Status != jobs.StatusQueued || !after.NotBefore.Equal(tick) {
		t.Fatalf("after the reap: %s not before %s; want queued not before its tick %s", after.Status, after.NotBefore, tick)
	}
}

func testReapExpired(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	lease := t0.Add(time.Minute)
	mk := func(job string, max int) jobs.Run {
		return claim(t, s, queue(t, s, e, with(nr(job, t0), func(r *storage.NewRun) { r.MaxAttempts = max })), "n1", t0, lease)
	}
	retry, last, canceled := mk("retry", 2), mk("last", 1), mk("canceled", 2)
	alive := claim(t, s, queue(t, s, e, nr("alive", t0)), "n2", t0, lease.Add(time.Hour))
	if _, err := s.RequestCancel(ctx, canceled.ID, t0); err != nil {
		t.Fatal(err)
	}
	canceled.CancelRequested = true
	now := lease.Add(time.Second)
	var backoffSaw []jobs.Run
	params := storage.ReapParams{Epoch: e, Now: now, Backoff: func(r jobs.Run) time.Duration {
		backoffSaw = append(backoffSaw, r)
		return 30 * time.Second
	}}

	stale := params
	stale.Epoch = e - 1
	_, err := s.ReapExpired(ctx, stale)
	wantErr(t, "ReapExpired with a stale epoch", err, storage.ErrFenced)
	for _, r := range []jobs.Run{retry, last, canceled, alive} {
		checkStored(t, s, r)
	}

	// A lease ending exactly now is not expired yet.
	if got, err := s.ReapExpired(ctx, storage.ReapParams{Epoch: e, Now: lease, Backoff: params.Backoff}); err != nil || len(got) != 0 {
		t.Fatalf("ReapExpired at the lease deadline = (%d runs, %v), want none", len(got), err)
	}
	got, err := s.ReapExpired(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("ReapExpired returned %d runs, want 3", len(got))
	}
	if len(backoffSaw) != 1 || backoffSaw[0].ID != retry.ID || backoffSaw[0].Attempt != 1 {
		t.Fatalf("Backoff was asked about %+v, want only run %d at attempt 1", backoffSaw, retry.ID)
	}
	reason := "lease expired: node n1 stopped heartbeating"
	retry.Status, retry.Node, retry.NotBefore, retry.Error = jobs.StatusQueued, "", now.Add(30*time.Second), reason
	last.Status, last.FinishedAt, last.Error = jobs.StatusLost, &now, reason
	canceled.Status, canceled.FinishedAt, canceled.Error = jobs.StatusCanceled, &now, reason
	byID := map[int64]jobs.Run{}
	for _, r := range got {
		byID[r.ID] = r
	}
	for _, want := range []jobs.Run{retry, last, canceled} {
		checkRun(t, "returned by ReapExpired", byID[want.ID], want)
		checkStored(t, s, want)
		_, atts := get(t, s, want.ID)
		checkAttempt(t, atts[0], jobs.Attempt{RunID: want.ID, Number: 1, Node: "n1", Status: jobs.StatusLost, StartedAt: t0,
			FinishedAt: &now, LeaseUntil: lease, Error: reason, Epoch: e})
	}
	checkStored(t, s, alive)
	if again, err := s.ReapExpired(ctx, params); err != nil || len(again) != 0 {
		t.Fatalf("second ReapExpired = (%d runs, %v), want none", len(again), err)
	}
	// The requeued run is claimable after its backoff, as attempt 2.
	if r := claim(t, s, retry, "n2", retry.NotBefore, retry.NotBefore.Add(time.Minute)); r.Attempt != 2 {
		t.Fatalf("claim after reaping: attempt %d, want 2", r.Attempt)
	}
}

func testRecoverNode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	far := t0.Add(24 * time.Hour)
	mine := claim(t, s, queue(t, s, e, with(nr("a", t0), func(r *storage.NewRun) { r.MaxAttempts = 2 })), "n1", t0, far)
	mineLast := claim(t, s, queue(t, s, e, nr("b", t0)), "n1", t0, far)
	theirs := claim(t, s, queue(t, s, e, nr("c", t0)), "n2", t0, far)
	now := t0.Add(time.Minute)
	got, err := s.RecoverNode(ctx, "n1", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("RecoverNode returned %d runs, want 2", len(got))
	}
	reason := "node n1 restarted before the attempt finished"
	mine.Status, mine.Node, mine.NotBefore, mine.Error = jobs.StatusQueued, "", now, reason
	mineLast.Status, mineLast.FinishedAt, mineLast.Error = jobs.StatusLost, &now, reason
	checkStored(t, s, mine)
	checkStored(t, s, mineLast)
	checkStored(t, s, theirs)
	if _, atts := get(t, s, mine.ID); atts[0].Status != jobs.StatusLost || atts[0].Error != reason {
		t.Fatalf("recovered attempt = %+v, want lost with %q", atts[0], reason)
	}
	if again, err := s.RecoverNode(ctx, "n1", now); err != nil || len(again) != 0 {
		t.Fatalf("second RecoverNode = (%d runs, %v), want none", len(again), err)
	}
}

func testDueQueued(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	later := t0.Add(time.Hour)
	got := dispatch(t, s, e, t0, nr("a", t0), with(nr("b", t0), func(r *storage.NewRun) { r.NotBefore = later }), nr("c", t0.Add(-time.Second)))
	a, b, c := got[0], got[1], got[2]
	claim(t, s, c, "n1", t0, later) // running runs are never due
	due := func(now, enqueuedBefore time.Time, limit int) []int64 {
		t.Helper()
		runs, err := s.DueQueued(ctx, now, enqueuedBefore, limit)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, len(runs))
		for i, r := range runs {
			ids[i] = r.ID
		}
		return ids
	}
	now := t0.Add(time.Minute)
	if ids := due(now, t0, 10); len(ids) != 0 {
		t.Fatalf("DueQueued right after dispatch = %v, want none (enqueued at %s)", ids, t0)
	}
	if ids := due(now, t0.Add(time.Second), 10); len(ids) != 1 || ids[0] != a.ID {
		t.Fatalf("DueQueued = %v, want [%d]", ids, a.ID)
	}
	if ids := due(now, t0.Add(time.Second), 10); len(ids) != 0 {
		t.Fatalf("DueQueued again = %v, want none: the first call stamped the run", ids)
	}
	if ids := due(now.Add(time.Second), now.Add(time.Second), 10); len(ids) != 1 || ids[0] != a.ID {
		t.Fatalf("DueQueued after the stamp aged = %v, want [%d]", ids, a.ID)
	}
	if ids := due(later, later, 1); len(ids) != 1 || ids[0] != a.ID {
		t.Fatalf("DueQueued with limit 1 = %v, want [%d] (oldest not_before first)", ids, a.ID)
	}
	if ids := due(later, later.Add(time.Second), 10); len(ids) != 2 || ids[0] != a.ID || ids[1] != b.ID {
		t.Fatalf("DueQueued = %v, want [%d %d]", ids, a.ID, b.ID)
	}
}

func testFailUnclaimed(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	old := queue(t, s, e, nr("a", t0))
	fresh := queue(t, s, e, with(nr("b", t0), func(r *storage.NewRun) { r.NotBefore = t0.Add(10 * time.Minute) }))
	running := claim(t, s, queue(t, s, e, nr("c", t0)), "n1", t0, t0.Add(time.Hour))
	now := t0.Add(10 * time.Minute)
	got, err := s.FailUnclaimed(ctx, t0.Add(5*time.Minute), now)
	if err != nil {
		t.Fatal(err)
	}
	old.Status, old.FinishedAt = jobs.StatusFailed, &now
	old.Error = "no worker claimed it within the dispatch timeout (job a, digest d-a): no live replica has this job definition"
	if len(got) != 1 {
		t.Fatalf("FailUnclaimed returned %d runs, want 1", len(got))
	}
	checkRun(t, "FailUnclaimed", got[0], old)
	checkStored(t, s, old)
	checkStored(t, s, fresh)
	checkStored(t, s, running)
}
