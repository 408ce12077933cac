package storetest

import (
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var traceCases = []testCase{
	{"Traceparent", testTraceparent},
	{"TraceparentOfPromotion", testTraceparentOfPromotion},
}

// testTraceparent: the traceparent a dispatch writes with a run comes back
// with every claim of it — from a doorbell (ClaimMany) or by polling
// (ClaimDue), on its first attempt and on a retry — and a run dispatched
// without one has none.
func testTraceparent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	const tpA = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const tpC = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
	a := queue(t, s, e, with(nr("a", t0), func(r *storage.NewRun) { r.Traceparent = tpA; r.MaxAttempts = 2 }))
	b := queue(t, s, e, nr("b", t0))
	c := queue(t, s, e, with(nr("c", t0), func(r *storage.NewRun) { r.Traceparent = tpC }))
	if a.Traceparent != tpA || b.Traceparent != "" {
		t.Errorf("Dispatch returned traceparents %q and %q, want %q and none", a.Traceparent, b.Traceparent, tpA)
	}
	now := t0.Add(time.Second)
	if got := claim(t, s, a, "n1", now, now.Add(time.Minute)); got.Traceparent != tpA {
		t.Errorf("ClaimMany: traceparent %q, want %q", got.Traceparent, tpA)
	}
	if stored, _ := get(t, s, a.ID); stored.Traceparent != tpA {
		t.Errorf("GetRun: traceparent %q, want %q", stored.Traceparent, tpA)
	}
	got, err := s.ClaimDue(ctx, dueParams("n2", now, 10, func(job string) bool { return job != "a" }))
	if err != nil || len(got) != 2 {
		t.Fatalf("ClaimDue = %+v, %v; want b and c", got, err)
	}
	for _, r := range got {
		want := map[int64]string{b.ID: "", c.ID: tpC}[r.ID]
		if r.Traceparent != want {
			t.Errorf("ClaimDue: run %d of %s has traceparent %q, want %q", r.ID, r.Job, r.Traceparent, want)
		}
	}
	// A retry is claimed with the traceparent of the run's dispatch.
	retryAt := now.Add(time.Second)
	if _, err := s.Finish(ctx, storage.FinishParams{RunID: a.ID, Attempt: 1, Node: "n1", Status: jobs.StatusFailed,
		FinishedAt: now, RetryAt: &retryAt}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	got, err = s.ClaimDue(ctx, dueParams("n2", retryAt, 10, func(job string) bool { return job == "a" }))
	if err != nil || len(got) != 1 || got[0].Attempt != 2 || got[0].Traceparent != tpA {
		t.Fatalf("ClaimDue of the retry = %+v, %v; want attempt 2 with traceparent %q", got, err, tpA)
	}
}

// testTraceparentOfPromotion: a manual run gets the traceparent the
// promotion's hook answers for it, written with the promotion and claimed
// with the run; a hook answering "" leaves none.
func testTraceparentOfPromotion(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	a, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "a", At: t0, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "b", At: t0, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	asked := map[int64]int{}
	defs := map[string]*jobs.Job{"a": {Name: "a", Digest: "d-a"}, "b": {Name: "b", Digest: "d-b"}}
	promoted, err := s.PromoteScheduled(ctx, storage.PromoteParams{Epoch: e, Now: t0, Job: func(n string) *jobs.Job { return defs[n] },
		Traceparent: func(r jobs.Run) string {
			asked[r.ID]++
			if r.ID == a.ID {
				return tp
			}
			return ""
		}})
	if err != nil || len(promoted) != 2 {
		t.Fatalf("PromoteScheduled = %+v, %v; want both runs", promoted, err)
	}
	if asked[a.ID] == 0 || asked[b.ID] == 0 {
		t.Errorf("the hook was asked %v, want once or more for each of runs %d and %d", asked, a.ID, b.ID)
	}
	for _, r := range promoted {
		if want := map[int64]string{a.ID: tp, b.ID: ""}[r.ID]; r.Traceparent != want {
			t.Errorf("promoted run %d: traceparent %q, want %q", r.ID, r.Traceparent, want)
		}
	}
	now := t0.Add(time.Second)
	got, err := s.ClaimDue(ctx, dueParams("n1", now, 10, func(string) bool { return true }))
	if err != nil || len(got) != 2 {
		t.Fatalf("ClaimDue = %+v, %v; want both runs", got, err)
	}
	for _, r := range got {
		if want := map[int64]string{a.ID: tp, b.ID: ""}[r.ID]; r.Traceparent != want {
			t.Errorf("claimed run %d: traceparent %q, want %q", r.ID, r.Traceparent, want)
		}
	}
}
