package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var lifecycleCases = []testCase{
	{"TriggerAndPromote", testTriggerPromote},
	{"Claim", testClaim},
	{"ClaimRace", testClaimRace},
	{"ClaimStampsEpoch", testClaimStampsEpoch},
	{"Heartbeat", testHeartbeat},
	{"FinishSucceeded", testFinishSucceeded},
	{"FinishRetry", testFinishRetry},
	{"FinishNoRetryWhenCanceled", testFinishRetryCanceled},
	{"FinishAfterReap", testFinishAfterReap},
	{"RequestCancel", testRequestCancel},
}

func testTriggerPromote(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	r, err := s.Trigger(ctx, "a", t0)
	if err != nil {
		t.Fatal(err)
	}
	want := jobs.Run{ID: r.ID, Job: "a", ScheduledAt: t0, Trigger: jobs.TriggerManual, Status: jobs.StatusScheduled,
		MaxAttempts: 1, NotBefore: t0, CreatedAt: t0}
	checkRun(t, "Trigger", r, want)
	checkStored(t, s, want)
	ghost, err := s.Trigger(ctx, "ghost", t0)
	if err != nil {
		t.Fatal(err)
	}

	// A scheduled run cannot be claimed before promotion.
	_, err = ClaimOne(ctx, s, storage.ClaimParams{RunID: r.ID, Job: "a", Digest: "", Node: "n1", Now: t0, LeaseUntil: t0.Add(time.Minute)})
	wantErr(t, "Claim of a scheduled run", err, storage.ErrNotClaimed)

	now := t0.Add(time.Second)
	byName := map[string]*jobs.Job{"a": {Name: "a", Digest: "dA", Settings: &jobs.Settings{Retries: 2}}}
	_, err = s.PromoteScheduled(ctx, storage.PromoteParams{Epoch: e - 1, Now: now, Job: func(n string) *jobs.Job { return byName[n] }})
	wantErr(t, "PromoteScheduled with a stale epoch", err, storage.ErrFenced)
	checkStored(t, s, want)

	got, err := s.PromoteScheduled(ctx, storage.PromoteParams{Epoch: e, Now: now, Job: func(n string) *jobs.Job { return byName[n] }})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("PromoteScheduled returned %d runs, want 1", len(got))
	}
	want.Status, want.Digest, want.MaxAttempts, want.NotBefore = jobs.StatusQueued, "dA", 3, now
	checkRun(t, "promoted", got[0], want)
	checkStored(t, s, want)
	g, _ := get(t, s, ghost.ID)
	if g.Status != jobs.StatusFailed || g.Error != `job "ghost" is not defined in the leader's config` || !eqTime(g.FinishedAt, &now) {
		t.Fatalf("run of an undefined job = %+v, want failed with a reason at %s", g, now)
	}
	if again, err := s.PromoteScheduled(ctx, storage.PromoteParams{Epoch: e, Now: now, Job: func(n string) *jobs.Job { return byName[n] }}); err != nil || len(again) != 0 {
		t.Fatalf("second PromoteScheduled = (%d runs, %v), want none", len(again), err)
	}
	// Promoted manual runs are picked up by DueQueued only after their stamp ages.
	if due, err := s.DueQueued(ctx, now, now, 10); err != nil || len(due) != 0 {
		t.Fatalf("DueQueued right after promotion = (%d, %v), want none", len(due), err)
	}
	claimed := claim(t, s, got[0], "n1", now, now.Add(time.Minute))
	if claimed.Status != jobs.StatusRunning {
		t.Fatalf("claimed promoted run is %s", claimed.Status)
	}
}

func testClaim(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	due := t0.Add(10 * time.Second)
	r := queue(t, s, e, with(nr("a", t0), func(r *storage.NewRun) { r.NotBefore = due; r.MaxAttempts = 2 }))
	lease := due.Add(time.Minute)
	for _, tc := range []struct {
		name string
		p    storage.ClaimParams
	}{
		{"not due yet", storage.ClaimParams{RunID: r.ID, Job: "a", Digest: "d-a", Node: "n1", Now: due.Add(-time.Microsecond), LeaseUntil: lease}},
		{"other job", storage.ClaimParams{RunID: r.ID, Job: "b", Digest: "d-a", Node: "n1", Now: due, LeaseUntil: lease}},
		{"other digest", storage.ClaimParams{RunID: r.ID, Job: "a", Digest: "d-x", Node: "n1", Now: due, LeaseUntil: lease}},
		{"unknown run", storage.ClaimParams{RunID: r.ID + 1000, Job: "a", Digest: "d-a", Node: "n1", Now: due, LeaseUntil: lease}},
	} {
		_, err := ClaimOne(ctx, s, tc.p)
		wantErr(t, "Claim, "+tc.name, err, storage.ErrNotClaimed)
	}
	checkStored(t, s, r)

	got := claim(t, s, r, "n1", due, lease)
	want := r
	want.Status, want.Attempt, want.Node, want.StartedAt = jobs.StatusRunning, 1, "n1", &due
	checkRun(t, "Claim", got, want)
	stored, atts := get(t, s, r.ID)
	checkRun(t, "stored", stored, want)
	if len(atts) != 1 {
		t.Fatalf("claimed run has %d attempts, want 1", len(atts))
	}
	checkAttempt(t, atts[0], jobs.Attempt{RunID: r.ID, Number: 1, Node: "n1", Status: jobs.StatusRunning, StartedAt: due, LeaseUntil: lease, Epoch: e})

	_, err := ClaimOne(ctx, s, storage.ClaimParams{RunID: r.ID, Job: "a", Digest: "d-a", Node: "n2", Now: due, LeaseUntil: lease})
	wantErr(t, "second Claim", err, storage.ErrNotClaimed)
}

// testClaimStampsEpoch checks that a claim stamps its attempt with the
// leader epoch current at claim time (not at dispatch), that ClaimMany
// returns it in Run.Epoch, claiming one run or several, and that a retry
// claimed after another election gets the newer epoch while earlier
// attempts keep theirs.
func testClaimStampsEpoch(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e1 := bump(t, s)
	r := queue(t, s, e1, with(nr("a", t0), func(r *storage.NewRun) { r.MaxAttempts = 3 }))
	other := queue(t, s, e1, nr("b", t0))
	e2 := bump(t, s) // a new leader between dispatch and claim
	lease := t0.Add(time.Minute)

	first := claim(t, s, r, "n1", t0, lease)
	if first.Epoch != e2 {
		t.Fatalf("ClaimOne returned epoch %d, want the current %d (dispatched under %d)", first.Epoch, e2, e1)
	}
	if f := first.Fence(); f != (jobs.Fence{Epoch: e2, RunID: r.ID, Attempt: 1}) {
		t.Fatalf("Fence of the claimed run = %v", f)
	}
	fin := t0.Add(time.Second)
	retry := fin.Add(time.Second)
	if _, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusFailed,
		FinishedAt: fin, ExitCode: pint(1), Error: "exit status 1", RetryAt: &retry}); err != nil {
		t.Fatal(err)
	}

	e3 := bump(t, s)
	got, err := s.ClaimMany(ctx, []storage.ClaimParams{cp(r, retry, retry.Add(time.Minute)), cp(other, retry, retry.Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != r.ID || got[1].ID != other.ID {
		t.Fatalf("ClaimMany claimed %v, want [%d %d]", ids(got), r.ID, other.ID)
	}
	for _, g := range got {
		if g.Epoch != e3 {
			t.Fatalf("ClaimMany returned run %d with epoch %d, want %d", g.ID, g.Epoch, e3)
		}
	}
	second := got[0]
	if second.Attempt != 2 {
		t.Fatalf("retry claimed as attempt %d, want 2", second.Attempt)
	}
	if !second.Fence().Supersedes(first.Fence()) {
		t.Fatalf("fence of attempt 2 %v does not supersede attempt 1's %v", second.Fence(), first.Fence())
	}
	fin2 := retry.Add(time.Second)
	retry2 := fin2.Add(time.Second)
	if _, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 2, Node: "n1", Status: jobs.StatusFailed,
		FinishedAt: fin2, Error: "exit status 1", RetryAt: &retry2}); err != nil {
		t.Fatal(err)
	}
	// No election since: the third attempt shares the second's epoch.
	third := claim(t, s, r, "n2", retry2, retry2.Add(time.Minute))
	if third.Epoch != e3 || !third.Fence().Supersedes(second.Fence()) {
		t.Fatalf("third attempt: epoch %d fence %v, want epoch %d and a fence above %v", third.Epoch, third.Fence(), e3, second.Fence())
	}

	_, atts := get(t, s, r.ID)
	if len(atts) != 3 {
		t.Fatalf("run has %d attempts, want 3", len(atts))
	}
	for i, want := range []int64{e2, e3, e3} {
		if atts[i].Epoch != want {
			t.Errorf("attempt %d has epoch %d, want %d", atts[i].Number, atts[i].Epoch, want)
		}
	}
	if _, atts := get(t, s, other.ID); len(atts) != 1 || atts[0].Epoch != e3 {
		t.Errorf("attempts of run %d: %+v, want one with epoch %d", other.ID, atts, e3)
	}
}

func testClaimRace(t *testing.T, s storage.Store) {
	e := bump(t, s)
	r := queue(t, s, e, nr("a", t0))
	const workers = 8
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			_, errs[w] = ClaimOne(t.Context(), s, storage.ClaimParams{RunID: r.ID, Job: "a", Digest: "d-a",
				Node: fmt.Sprintf("n%d", w), Now: t0, LeaseUntil: t0.Add(time.Minute)})
		})
	}
	wg.Wait()
	won := -1
	for w, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("workers %d and %d both claimed run %d", won, w, r.ID)
		case err == nil:
			won = w
		case !errors.Is(err, storage.ErrNotClaimed):
			t.Fatalf("worker %d: %v, want ErrNotClaimed", w, err)
		}
	}
	if won < 0 {
		t.Fatal("no worker claimed the run")
	}
	got, atts := get(t, s, r.ID)
	if got.Node != fmt.Sprintf("n%d", won) || got.Attempt != 1 || len(atts) != 1 {
		t.Fatalf("after the race: node %q attempt %d with %d attempts, want n%d, 1, 1", got.Node, got.Attempt, len(atts), won)
	}
}

func testHeartbeat(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	r := claim(t, s, queue(t, s, e, nr("a", t0)), "n1", t0, t0.Add(time.Minute))
	beat := func(attempt int, node string, lease time.Time) (bool, error) {
		return s.Heartbeat(ctx, storage.HeartbeatParams{RunID: r.ID, Attempt: attempt, Node: node, LeaseUntil: lease})
	}
	lease := t0.Add(2 * time.Minute)
	for range 2 { // renewing to the same deadline is still a renewal
		if cancel, err := beat(1, "n1", lease); err != nil || cancel {
			t.Fatalf("Heartbeat = (%t, %v), want (false, nil)", cancel, err)
		}
	}
	if _, atts := get(t, s, r.ID); !atts[0].LeaseUntil.Equal(lease) {
		t.Fatalf("lease_until = %s, want %s", atts[0].LeaseUntil, lease)
	}
	_, err := beat(1, "n2", lease)
	wantErr(t, "Heartbeat from another node", err, storage.ErrLeaseLost)
	_, err = beat(2, "n1", lease)
	wantErr(t, "Heartbeat of another attempt", err, storage.ErrLeaseLost)
	if _, err := s.RequestCancel(ctx, r.ID, t0); err != nil {
		t.Fatal(err)
	}
	if cancel, err := beat(1, "n1", lease); err != nil || !cancel {
		t.Fatalf("Heartbeat after RequestCancel = (%t, %v), want (true, nil)", cancel, err)
	}
	if _, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusCanceled, FinishedAt: t0}); err != nil {
		t.Fatal(err)
	}
	_, err = beat(1, "n1", lease)
	wantErr(t, "Heartbeat of a finished attempt", err, storage.ErrLeaseLost)
}

func testFinishSucceeded(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	lease := t0.Add(time.Minute)
	r := claim(t, s, queue(t, s, e, nr("a", t0)), "n1", t0, lease)
	fin := t0.Add(3 * time.Second)
	_, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusQueued, FinishedAt: fin})
	if err == nil {
		t.Fatal("Finish with status queued succeeded, want an error")
	}
	_, err = s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n2", Status: jobs.StatusSucceeded, FinishedAt: fin})
	wantErr(t, "Finish from another node", err, storage.ErrLeaseLost)

	out := "hello, wörld ✓\n"
	got, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusSucceeded,
		FinishedAt: fin, ExitCode: pint(0), Output: out, OutputDropped: 42, RetryAt: ptime(fin.Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	want := r
	want.Status, want.FinishedAt, want.ExitCode = jobs.StatusSucceeded, &fin, pint(0)
	checkRun(t, "Finish", got, want) // no attempts left: RetryAt is ignored
	stored, atts := get(t, s, r.ID)
	checkRun(t, "stored", stored, want)
	checkAttempt(t, atts[0], jobs.Attempt{RunID: r.ID, Number: 1, Node: "n1", Status: jobs.StatusSucceeded, StartedAt: t0,
		FinishedAt: &fin, LeaseUntil: lease, ExitCode: pint(0), Output: out, OutputDropped: 42, Epoch: e})
	_, err = s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusFailed, FinishedAt: fin})
	wantErr(t, "second Finish", err, storage.ErrLeaseLost)
	checkStored(t, s, want)
}

func testFinishRetry(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	r := queue(t, s, e, with(nr("a", t0), func(r *storage.NewRun) { r.MaxAttempts = 2 }))
	lease := t0.Add(time.Minute)
	claim(t, s, r, "n1", t0, lease)
	fin, retry := t0.Add(time.Second), t0.Add(time.Minute)
	got, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusFailed,
		FinishedAt: fin, ExitCode: pint(3), Error: "exit status 3", Output: "boom", RetryAt: &retry})
	if err != nil {
		t.Fatal(err)
	}
	want := r
	want.Status, want.Attempt, want.NotBefore, want.StartedAt, want.ExitCode, want.Error = jobs.StatusQueued, 1, retry, &t0, pint(3), "exit status 3"
	checkRun(t, "Finish with a retry", got, want)
	checkStored(t, s, want)

	// Not claimable before its backoff; re-enqueued by DueQueued once due.
	_, err = ClaimOne(ctx, s, storage.ClaimParams{RunID: r.ID, Job: "a", Digest: "d-a", Node: "n2", Now: retry.Add(-time.Second), LeaseUntil: lease})
	wantErr(t, "Claim before the retry is due", err, storage.ErrNotClaimed)
	if due, err := s.DueQueued(ctx, retry, retry, 10); err != nil || len(due) != 1 || due[0].ID != r.ID {
		t.Fatalf("DueQueued at the retry time = (%v, %v), want the run", due, err)
	}
	second := claim(t, s, r, "n2", retry, retry.Add(time.Minute))
	if second.Attempt != 2 || second.Node != "n2" || !eqTime(second.StartedAt, &t0) {
		t.Fatalf("second claim: attempt %d node %q started %s, want 2, n2, first start %s", second.Attempt, second.Node, fmtTime(second.StartedAt), t0)
	}
	fin2 := retry.Add(time.Second)
	got, err = s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 2, Node: "n2", Status: jobs.StatusTimedOut,
		FinishedAt: fin2, Error: "timed out after 1s", RetryAt: ptime(fin2.Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	want.Status, want.Attempt, want.Node, want.FinishedAt, want.ExitCode, want.Error = jobs.StatusTimedOut, 2, "n2", &fin2, nil, "timed out after 1s"
	checkRun(t, "Finish of the last attempt", got, want)
	_, atts := get(t, s, r.ID)
	if len(atts) != 2 {
		t.Fatalf("run has %d attempts, want 2", len(atts))
	}
	checkAttempt(t, atts[0], jobs.Attempt{RunID: r.ID, Number: 1, Node: "n1", Status: jobs.StatusFailed, StartedAt: t0,
		FinishedAt: &fin, LeaseUntil: lease, ExitCode: pint(3), Error: "exit status 3", Output: "boom", Epoch: e})
	checkAttempt(t, atts[1], jobs.Attempt{RunID: r.ID, Number: 2, Node: "n2", Status: jobs.StatusTimedOut, StartedAt: retry,
		FinishedAt: &fin2, LeaseUntil: retry.Add(time.Minute), Error: "timed out after 1s", Epoch: e})
}

func testFinishRetryCanceled(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	r := claim(t, s, queue(t, s, e, with(nr("a", t0), func(r *storage.NewRun) { r.MaxAttempts = 3 })), "n1", t0, t0.Add(time.Minute))
	if _, err := s.RequestCancel(ctx, r.ID, t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusCanceled,
		FinishedAt: t0, Error: "canceled", RetryAt: ptime(t0.Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != jobs.StatusCanceled || got.FinishedAt == nil {
		t.Fatalf("Finish with a retry after a cancel request: status %s, want canceled (no retry)", got.Status)
	}
}

func testFinishAfterReap(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	lease := t0.Add(time.Minute)
	r := claim(t, s, queue(t, s, e, with(nr("a", t0), func(r *storage.NewRun) { r.MaxAttempts = 2 })), "n1", t0, lease)
	if _, err := s.ReapExpired(ctx, storage.ReapParams{Epoch: e, Now: lease.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	before, attsBefore := get(t, s, r.ID)
	_, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusSucceeded,
		FinishedAt: lease.Add(2 * time.Second), ExitCode: pint(0), Output: "late"})
	wantErr(t, "Finish of a reaped attempt", err, storage.ErrLeaseLost)
	after, attsAfter := get(t, s, r.ID)
	checkRun(t, "run after the refused Finish", after, before)
	if len(attsAfter) != len(attsBefore) {
		t.Fatalf("attempts changed from %d to %d", len(attsBefore), len(attsAfter))
	}
	for i := range attsAfter {
		checkAttempt(t, attsAfter[i], attsBefore[i])
	}
}

func testRequestCancel(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	now := t0.Add(time.Minute)
	queued := queue(t, s, e, nr("a", t0))
	scheduled, err := s.Trigger(ctx, "b", t0)
	if err != nil {
		t.Fatal(err)
	}
	running := claim(t, s, queue(t, s, e, nr("c", t0)), "n1", t0, now.Add(time.Hour))

	for _, r := range []jobs.Run{queued, scheduled} {
		got, err := s.RequestCancel(ctx, r.ID, now)
		if err != nil {
			t.Fatalf("RequestCancel(%s run): %v", r.Status, err)
		}
		want := r
		want.Status, want.FinishedAt, want.Error = jobs.StatusCanceled, &now, "canceled before it started"
		checkRun(t, "RequestCancel of a "+string(r.Status)+" run", got, want)
		checkStored(t, s, want)
	}
	_, err = ClaimOne(ctx, s, storage.ClaimParams{RunID: queued.ID, Job: "a", Digest: "d-a", Node: "n1", Now: now, LeaseUntil: now})
	wantErr(t, "Claim of a canceled run", err, storage.ErrNotClaimed)

	got, err := s.RequestCancel(ctx, running.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	running.CancelRequested = true
	checkRun(t, "RequestCancel of a running run", got, running)
	checkStored(t, s, running)

	got, err = s.RequestCancel(ctx, queued.ID, now)
	wantErr(t, "RequestCancel of a canceled run", err, storage.ErrConflict)
	if got.ID != queued.ID || got.Status != jobs.StatusCanceled {
		t.Fatalf("RequestCancel conflict returned run %d (%s), want run %d as it is", got.ID, got.Status, queued.ID)
	}
	_, err = s.RequestCancel(ctx, running.ID+1000, now)
	wantErr(t, "RequestCancel of an unknown run", err, storage.ErrNotFound)
}
