package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var batchCases = []testCase{
	{"ClaimManyMixed", testClaimManyMixed},
	{"ClaimManyParams", testClaimManyParams},
	{"ClaimManyRace", testClaimManyRace},
	{"FinishManyMixed", testFinishManyMixed},
	{"BatchRoundsStayConsistent", testBatchRounds},
	{"FinishManyLargeOutputs", testFinishManyLargeOutputs},
}

// cp is the ClaimParams of run r on node n1 at now with lease.
func cp(r jobs.Run, now, lease time.Time) storage.ClaimParams {
	return storage.ClaimParams{RunID: r.ID, Job: r.Job, Digest: r.Digest, Node: "n1", Now: now, LeaseUntil: lease}
}

func testClaimManyMixed(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	now := t0.Add(time.Minute)
	lease := now.Add(time.Minute)
	ok := queue(t, s, e, nr("ok", t0))
	running := claim(t, s, queue(t, s, e, nr("running", t0)), "n0", t0, lease)
	wrongDigest := queue(t, s, e, nr("digest", t0))
	wrongJob := queue(t, s, e, nr("job", t0))
	notDue := queue(t, s, e, with(nr("later", t0), func(r *storage.NewRun) { r.NotBefore = now.Add(time.Microsecond) }))
	canceled := queue(t, s, e, nr("canceled", t0))
	if _, err := s.RequestCancel(ctx, canceled.ID, t0); err != nil {
		t.Fatal(err)
	}
	twice := queue(t, s, e, nr("twice", t0))
	// A retry: started before, back to queued, due again.
	retry := queue(t, s, e, with(nr("retry", t0), func(r *storage.NewRun) { r.MaxAttempts = 2 }))
	claim(t, s, retry, "n0", t0, lease)
	retried, err := s.Finish(ctx, storage.FinishParams{RunID: retry.ID, Attempt: 1, Node: "n0", Status: jobs.StatusFailed,
		FinishedAt: t0.Add(time.Second), ExitCode: pint(1), Error: "exit status 1", RetryAt: ptime(now)})
	if err != nil || retried.Status != jobs.StatusQueued {
		t.Fatalf("Finish with a retry = %+v, %v; want queued", retried, err)
	}
	untouched := map[int64]jobs.Run{}
	for _, id := range []int64{running.ID, wrongDigest.ID, wrongJob.ID, notDue.ID, canceled.ID} {
		untouched[id], _ = get(t, s, id)
	}

	params := []storage.ClaimParams{
		cp(running, now, lease),
		cp(retried, now, lease),
		with2(cp(wrongDigest, now, lease), func(p *storage.ClaimParams) { p.Digest = "d-other" }),
		with2(cp(wrongJob, now, lease), func(p *storage.ClaimParams) { p.Job = "ok" }),
		cp(notDue, now, lease),
		cp(canceled, now, lease),
		{RunID: ok.ID + 1000, Job: "ok", Digest: "d-ok", Node: "n1", Now: now, LeaseUntil: lease},
		with2(cp(twice, now, lease), func(p *storage.ClaimParams) { p.Digest = "forged" }),
		cp(ok, now, lease),
		cp(twice, now, lease),
		cp(ok, now, lease),
	}
	got, err := s.ClaimMany(ctx, params)
	if err != nil {
		t.Fatalf("ClaimMany: %v", err)
	}
	wantRetry := retried
	wantRetry.Status, wantRetry.Attempt, wantRetry.Node = jobs.StatusRunning, 2, "n1" // started_at kept from attempt 1
	wantOK, wantTwice := ok, twice
	for _, w := range []*jobs.Run{&wantOK, &wantTwice} {
		w.Status, w.Attempt, w.Node, w.StartedAt = jobs.StatusRunning, 1, "n1", &now
	}
	want := []jobs.Run{wantRetry, wantTwice, wantOK} // the order of first naming
	if len(got) != len(want) {
		t.Fatalf("ClaimMany claimed %d runs %v, want %d", len(got), ids(got), len(want))
	}
	for i := range want {
		checkRun(t, fmt.Sprintf("ClaimMany result %d", i), got[i], want[i])
		checkStored(t, s, want[i])
		_, atts := get(t, s, want[i].ID)
		if len(atts) != want[i].Attempt {
			t.Fatalf("run %d has %d attempts, want %d", want[i].ID, len(atts), want[i].Attempt)
		}
		checkAttempt(t, atts[len(atts)-1], jobs.Attempt{RunID: want[i].ID, Number: want[i].Attempt, Node: "n1",
			Status: jobs.StatusRunning, StartedAt: now, LeaseUntil: lease, Epoch: e})
	}
	for _, r := range untouched {
		checkStored(t, s, r)
	}
	// Claimed runs are not claimable again.
	if again, err := s.ClaimMany(ctx, params); err != nil || len(again) != 0 {
		t.Fatalf("second ClaimMany = %v, %v; want nothing claimed", ids(again), err)
	}
	// A ClaimMany of one run agrees with the batch on what is not claimable.
	for _, p := range params {
		_, err := ClaimOne(ctx, s, p)
		wantErr(t, fmt.Sprintf("ClaimOne(run %d) after ClaimMany", p.RunID), err, storage.ErrNotClaimed)
	}
}

func testClaimManyParams(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	a, b := queue(t, s, e, nr("a", t0)), queue(t, s, e, nr("b", t0))
	if got, err := s.ClaimMany(ctx, nil); got != nil || err != nil {
		t.Fatalf("ClaimMany(nil) = %v, %v; want nil, nil", got, err)
	}
	if got, err := s.FinishMany(ctx, nil); got != nil || err != nil {
		t.Fatalf("FinishMany(nil) = %v, %v; want nil, nil", got, err)
	}
	lease := t0.Add(time.Minute)
	for name, change := range map[string]func(*storage.ClaimParams){
		"Node":       func(p *storage.ClaimParams) { p.Node = "n2" },
		"Now":        func(p *storage.ClaimParams) { p.Now = p.Now.Add(-time.Microsecond) },
		"LeaseUntil": func(p *storage.ClaimParams) { p.LeaseUntil = p.LeaseUntil.Add(time.Second) },
	} {
		got, err := s.ClaimMany(ctx, []storage.ClaimParams{cp(a, t0, lease), with2(cp(b, t0, lease), change)})
		if err == nil || len(got) != 0 {
			t.Fatalf("ClaimMany with params differing in %s = %v, %v; want an error", name, ids(got), err)
		}
	}
	checkStored(t, s, a)
	checkStored(t, s, b)
	// The same instant in another zone is the same Now.
	berlin := time.FixedZone("CET", 3600)
	got, err := s.ClaimMany(ctx, []storage.ClaimParams{cp(a, t0, lease), with2(cp(b, t0, lease), func(p *storage.ClaimParams) {
		p.Now, p.LeaseUntil = t0.In(berlin), lease.In(berlin)
	})})
	if err != nil || len(got) != 2 {
		t.Fatalf("ClaimMany with equal instants = %v, %v; want both claimed", ids(got), err)
	}
}

// testClaimManyRace lets several nodes claim the same runs at once, each
// naming them in its own order: every run is claimed exactly once (I4).
func testClaimManyRace(t *testing.T, s storage.Store) {
	e := bump(t, s)
	const runs, nodes = 40, 4
	in := make([]storage.NewRun, runs)
	for i := range in {
		in[i] = nr(fmt.Sprintf("j%02d", i), t0)
	}
	queued := dispatch(t, s, e, t0, in...)
	if len(queued) != runs {
		t.Fatalf("Dispatch returned %d runs", len(queued))
	}
	lease := t0.Add(time.Minute)
	got := make([][]jobs.Run, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for n := range nodes {
		params := make([]storage.ClaimParams, runs)
		for i, r := range queued {
			params[i] = with2(cp(r, t0, lease), func(p *storage.ClaimParams) { p.Node = fmt.Sprintf("n%d", n) })
		}
		rand.Shuffle(len(params), func(i, j int) { params[i], params[j] = params[j], params[i] })
		wg.Go(func() { got[n], errs[n] = s.ClaimMany(t.Context(), params) })
	}
	wg.Wait()
	owner := map[int64]string{}
	for n := range nodes {
		if errs[n] != nil {
			t.Fatalf("node %d: ClaimMany: %v", n, errs[n])
		}
		for _, r := range got[n] {
			if prev, dup := owner[r.ID]; dup {
				t.Fatalf("run %d claimed by %s and %s", r.ID, prev, r.Node)
			}
			if r.Node != fmt.Sprintf("n%d", n) {
				t.Fatalf("node %d got run %d claimed for %s", n, r.ID, r.Node)
			}
			owner[r.ID] = r.Node
		}
	}
	if len(owner) != runs {
		t.Fatalf("%d of %d runs claimed", len(owner), runs)
	}
	for _, r := range queued {
		stored, atts := get(t, s, r.ID)
		if stored.Status != jobs.StatusRunning || stored.Node != owner[r.ID] || stored.Attempt != 1 || len(atts) != 1 || atts[0].Node != owner[r.ID] {
			t.Fatalf("run %d after the race: %s on %q attempt %d, %d attempts; want running on %s with one attempt",
				r.ID, stored.Status, stored.Node, stored.Attempt, len(atts), owner[r.ID])
		}
	}
}

func testFinishManyMixed(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	lease, short := t0.Add(time.Hour), t0.Add(time.Minute)
	claimed := func(job string, attempts int, lease time.Time) jobs.Run {
		return claim(t, s, queue(t, s, e, with(nr(job, t0), func(r *storage.NewRun) { r.MaxAttempts = attempts })), "n1", t0, lease)
	}
	ok := claimed("ok", 1, lease)
	reaped := claimed("reaped", 2, short)
	if _, err := s.ReapExpired(ctx, storage.ReapParams{Epoch: e, Now: short.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	foreign := claimed("foreign", 1, lease)
	retry := claimed("retry", 2, lease)
	last := claimed("last", 1, lease)
	canceled := claimed("canceled", 3, lease)
	if _, err := s.RequestCancel(ctx, canceled.ID, t0); err != nil {
		t.Fatal(err)
	}
	canceled.CancelRequested = true
	badStatus := claimed("bad", 1, lease)

	fin := t0.Add(2 * time.Minute)
	retryAt := fin.Add(10 * time.Second)
	fp := func(r jobs.Run, st jobs.RunStatus, f func(*storage.FinishParams)) storage.FinishParams {
		p := storage.FinishParams{RunID: r.ID, Attempt: r.Attempt, Node: "n1", Status: st, FinishedAt: fin}
		if f != nil {
			f(&p)
		}
		return p
	}
	params := []storage.FinishParams{
		fp(ok, jobs.StatusSucceeded, func(p *storage.FinishParams) { p.ExitCode, p.Output, p.OutputDropped = pint(0), "out ✓\n", 3 }),
		fp(reaped, jobs.StatusSucceeded, func(p *storage.FinishParams) { p.ExitCode, p.Output = pint(0), "late" }),
		fp(foreign, jobs.StatusSucceeded, func(p *storage.FinishParams) { p.Node = "n2" }),
		fp(retry, jobs.StatusFailed, func(p *storage.FinishParams) { p.ExitCode, p.Error, p.RetryAt = pint(2), "exit status 2", &retryAt }),
		fp(last, jobs.StatusTimedOut, func(p *storage.FinishParams) { p.Error, p.RetryAt = "timed out after 1s", &retryAt }),
		fp(canceled, jobs.StatusCanceled, func(p *storage.FinishParams) { p.Error, p.RetryAt = "canceled", &retryAt }),
		fp(badStatus, jobs.StatusQueued, nil),
		fp(ok, jobs.StatusFailed, nil), // ok again: its attempt is closed by the first item
	}
	before := map[int64]jobs.Run{}
	beforeAtts := map[int64][]jobs.Attempt{}
	for _, r := range []jobs.Run{reaped, foreign, badStatus} {
		before[r.ID], beforeAtts[r.ID] = get(t, s, r.ID)
	}

	res, err := s.FinishMany(ctx, params)
	if err != nil {
		t.Fatalf("FinishMany: %v", err)
	}
	if len(res) != len(params) {
		t.Fatalf("FinishMany returned %d results for %d params", len(res), len(params))
	}
	for _, i := range []int{1, 2, 7} {
		wantErr(t, fmt.Sprintf("FinishMany item %d (run %d)", i, params[i].RunID), res[i].Err, storage.ErrLeaseLost)
	}
	if res[6].Err == nil || errors.Is(res[6].Err, storage.ErrLeaseLost) {
		t.Fatalf("FinishMany item with status queued: error %v, want a bad-status error", res[6].Err)
	}

	wantOK := ok
	wantOK.Status, wantOK.FinishedAt, wantOK.ExitCode = jobs.StatusSucceeded, &fin, pint(0)
	wantRetry := retry
	wantRetry.Status, wantRetry.NotBefore, wantRetry.Node, wantRetry.ExitCode, wantRetry.Error = jobs.StatusQueued, retryAt, "", pint(2), "exit status 2"
	wantLast := last
	wantLast.Status, wantLast.FinishedAt, wantLast.Error = jobs.StatusTimedOut, &fin, "timed out after 1s"
	wantCanceled := canceled
	wantCanceled.Status, wantCanceled.FinishedAt, wantCanceled.Error = jobs.StatusCanceled, &fin, "canceled"
	for i, want := range map[int]jobs.Run{0: wantOK, 3: wantRetry, 4: wantLast, 5: wantCanceled} {
		if res[i].Err != nil {
			t.Fatalf("FinishMany item %d (run %d): %v", i, params[i].RunID, res[i].Err)
		}
		checkRun(t, fmt.Sprintf("FinishMany item %d", i), res[i].Run, want)
		checkStored(t, s, want)
		_, atts := get(t, s, want.ID)
		p := params[i]
		checkAttempt(t, atts[len(atts)-1], jobs.Attempt{RunID: want.ID, Number: p.Attempt, Node: "n1", Status: p.Status,
			StartedAt: t0, FinishedAt: &fin, LeaseUntil: lease, ExitCode: p.ExitCode, Error: p.Error, Output: p.Output,
			OutputDropped: p.OutputDropped, Epoch: e})
	}
	// Refused items changed nothing.
	for id, r := range before {
		after, atts := get(t, s, id)
		checkRun(t, "run of a refused item", after, r)
		if len(atts) != len(beforeAtts[id]) {
			t.Fatalf("run %d: attempts changed from %d to %d", id, len(beforeAtts[id]), len(atts))
		}
		for i := range atts {
			checkAttempt(t, atts[i], beforeAtts[id][i])
		}
	}
	for _, r := range []jobs.Run{ok, reaped, foreign, retry, last, canceled, badStatus} {
		checkConsistent(t, s, r.ID)
	}
	// Finish agrees with FinishMany about the items it refused.
	for _, i := range []int{1, 2, 7} {
		_, err := s.Finish(ctx, params[i])
		wantErr(t, fmt.Sprintf("Finish of item %d", i), err, storage.ErrLeaseLost)
	}
}

// testBatchRounds claims and finishes runs in batches over several
// attempts and checks every run and its attempts agree at each step (I6).
func testBatchRounds(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	const n = 30
	in := make([]storage.NewRun, n)
	for i := range in {
		in[i] = with(nr(fmt.Sprintf("j%02d", i), t0), func(r *storage.NewRun) { r.MaxAttempts = 3 })
	}
	pending := dispatch(t, s, e, t0, in...)
	now := t0
	for round := 1; len(pending) > 0; round++ {
		if round > 3 {
			t.Fatalf("%d runs still pending after 3 attempts", len(pending))
		}
		lease := now.Add(time.Minute)
		params := make([]storage.ClaimParams, len(pending))
		for i, r := range pending {
			params[i] = cp(r, now, lease)
		}
		claimed, err := s.ClaimMany(ctx, params)
		if err != nil {
			t.Fatalf("round %d: ClaimMany: %v", round, err)
		}
		if len(claimed) != len(pending) {
			t.Fatalf("round %d: claimed %d of %d due runs", round, len(claimed), len(pending))
		}
		for _, r := range claimed {
			if r.Attempt != round {
				t.Fatalf("round %d: run %d claimed at attempt %d", round, r.ID, r.Attempt)
			}
			checkConsistent(t, s, r.ID)
		}
		fin, retryAt := now.Add(time.Second), now.Add(time.Minute)
		fps := make([]storage.FinishParams, len(claimed))
		for i, r := range claimed {
			// Run i fails until attempt i%3+1.
			// The caller asks for a retry of a failed attempt only.
			st, retry := jobs.StatusFailed, &retryAt
			if round > i%3 {
				st, retry = jobs.StatusSucceeded, nil
			}
			fps[i] = storage.FinishParams{RunID: r.ID, Attempt: r.Attempt, Node: "n1", Status: st, FinishedAt: fin,
				Output: fmt.Sprintf("run %d attempt %d", r.ID, r.Attempt), RetryAt: retry}
		}
		res, err := s.FinishMany(ctx, fps)
		if err != nil {
			t.Fatalf("round %d: FinishMany: %v", round, err)
		}
		pending = pending[:0]
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("round %d: item %d: %v", round, i, r.Err)
			}
			checkConsistent(t, s, r.Run.ID)
			stored, atts := get(t, s, r.Run.ID)
			checkRun(t, "FinishMany result", r.Run, stored)
			if a := atts[len(atts)-1]; a.Status != fps[i].Status || a.Output != fps[i].Output {
				t.Fatalf("round %d: run %d attempt %d is %s with output %q, want %s, %q", round, r.Run.ID, a.Number, a.Status, a.Output, fps[i].Status, fps[i].Output)
			}
			switch {
			case fps[i].Status == jobs.StatusSucceeded:
				if r.Run.Status != jobs.StatusSucceeded {
					t.Fatalf("round %d: succeeded attempt left run %d %s", round, r.Run.ID, r.Run.Status)
				}
			case r.Run.Status == jobs.StatusQueued:
				pending = append(pending, r.Run)
			default:
				t.Fatalf("round %d: failed attempt %d of 3 left run %d %s, want queued", round, r.Run.Attempt, r.Run.ID, r.Run.Status)
			}
		}
		now = retryAt
	}
}

// testFinishManyLargeOutputs records a batch whose captured outputs are
// too large for one statement: a store splits it, and every byte arrives.
func testFinishManyLargeOutputs(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	const n, size = 20, 1 << 20
	in := make([]storage.NewRun, n)
	for i := range in {
		in[i] = nr(fmt.Sprintf("big%d", i), t0)
	}
	params := make([]storage.ClaimParams, n)
	for i, r := range dispatch(t, s, e, t0, in...) {
		params[i] = cp(r, t0, t0.Add(time.Minute))
	}
	claimed, err := s.ClaimMany(ctx, params)
	if err != nil || len(claimed) != n {
		t.Fatalf("ClaimMany = %d runs, %v", len(claimed), err)
	}
	fps := make([]storage.FinishParams, n)
	for i, r := range claimed {
		// Quotes, backslashes and NULs, which a statement must escape.
		chunk := fmt.Sprintf("run %d: it's a \\ \"quoted\" \x00 line ✓\n", r.ID)
		out := strings.Repeat(chunk, size/len(chunk))
		fps[i] = storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusSucceeded, FinishedAt: t0, Output: out}
	}
	res, err := s.FinishMany(ctx, fps)
	if err != nil {
		t.Fatalf("FinishMany: %v", err)
	}
	for i, r := range res {
		if r.Err != nil || r.Run.Status != jobs.StatusSucceeded {
			t.Fatalf("item %d: %s, %v", i, r.Run.Status, r.Err)
		}
		_, atts := get(t, s, fps[i].RunID)
		if atts[0].Output != fps[i].Output {
			t.Fatalf("run %d: stored output of %d bytes differs from the %d bytes written", fps[i].RunID, len(atts[0].Output), len(fps[i].Output))
		}
	}
}

// checkConsistent checks that a run and its attempts agree (I6): the run
// is running exactly when its last attempt is, on the same node, and its
// attempt count is its number of attempts.
func checkConsistent(t *testing.T, s storage.Store, id int64) {
	t.Helper()
	r, atts := get(t, s, id)
	if len(atts) != r.Attempt {
		t.Fatalf("run %d is at attempt %d with %d attempts", id, r.Attempt, len(atts))
	}
	for i, a := range atts {
		if a.Number != i+1 {
			t.Fatalf("run %d: attempt %d numbered %d", id, i+1, a.Number)
		}
		lastRunning := i == len(atts)-1 && r.Status == jobs.StatusRunning
		if (a.Status == jobs.StatusRunning) != lastRunning {
			t.Fatalf("run %d is %s but its attempt %d is %s", id, r.Status, a.Number, a.Status)
		}
		if lastRunning && a.Node != r.Node {
			t.Fatalf("run %d runs on %q but its attempt on %q", id, r.Node, a.Node)
		}
		if a.Status != jobs.StatusRunning && a.FinishedAt == nil {
			t.Fatalf("run %d: attempt %d is %s without an end", id, a.Number, a.Status)
		}
	}
	if r.Status.Terminal() != (r.FinishedAt != nil) {
		t.Fatalf("run %d is %s with finished_at %s", id, r.Status, fmtTime(r.FinishedAt))
	}
}

func with2(p storage.ClaimParams, f func(*storage.ClaimParams)) storage.ClaimParams {
	f(&p)
	return p
}
