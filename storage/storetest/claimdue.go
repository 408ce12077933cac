package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var claimDueCases = []testCase{
	{"ClaimDue", testClaimDue},
	{"ClaimDueConcurrent", testClaimDueConcurrent},
}

func dueParams(node string, now time.Time, limit int, accept func(job string) bool) storage.ClaimDueParams {
	return storage.ClaimDueParams{Node: node, Now: now, LeaseUntil: now.Add(time.Minute), Limit: limit,
		Accept: func(_ int64, job, _ string) bool { return accept(job) }}
}

// testClaimDue: without doorbells, due queued runs the caller accepts are
// claimed in due order, up to the limit, each once; runs not yet due, of
// jobs refused, or requiring labels the node lacks stay queued.
func testClaimDue(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	var a []jobs.Run
	for i := range 3 {
		a = append(a, queue(t, s, e, nr("a", t0.Add(time.Duration(i)*time.Second))))
	}
	b := queue(t, s, e, nr("b", t0))
	later := queue(t, s, e, nr("a", t0.Add(time.Hour)))
	pinned := queue(t, s, e, with(nr("c", t0), func(r *storage.NewRun) { r.RunOnLabels = "zone=a" }))
	if _, err := s.ClaimDue(ctx, storage.ClaimDueParams{Node: "n", Now: t0, Limit: 0}); err == nil {
		t.Error("ClaimDue with no limit: want an error")
	}

	now := t0.Add(5 * time.Second)
	onlyA := func(job string) bool { return job == "a" || job == "c" }
	got, err := s.ClaimDue(ctx, dueParams("n1", now, 2, onlyA))
	if err != nil {
		t.Fatalf("ClaimDue: %v", err)
	}
	if len(got) != 2 || got[0].ID != a[0].ID || got[1].ID != a[1].ID {
		t.Fatalf("ClaimDue(limit 2) = %+v, want a's two earliest runs", got)
	}
	for _, r := range got {
		if r.Status != jobs.StatusRunning || r.Node != "n1" || r.Attempt != 1 || r.Epoch != e {
			t.Errorf("claimed run %+v: want running on n1, attempt 1, epoch %d", r, e)
		}
		if stored, _ := get(t, s, r.ID); stored.Status != jobs.StatusRunning || stored.Node != "n1" {
			t.Errorf("stored run %d: %+v, want running on n1", r.ID, stored)
		}
	}
	got, err = s.ClaimDue(ctx, dueParams("n1", now, 10, onlyA))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != a[2].ID {
		t.Fatalf("second ClaimDue = %+v, want only a's third run (b refused, the later one not due, c needs zone=a)", got)
	}
	for _, r := range []jobs.Run{b, later, pinned} {
		if stored, _ := get(t, s, r.ID); stored.Status != jobs.StatusQueued {
			t.Errorf("run %d of %s: %s, want queued", r.ID, r.Job, stored.Status)
		}
	}
	p := dueParams("n2", now, 10, onlyA)
	p.Labels = jobs.Labels{"zone": "a"}
	if got, err = s.ClaimDue(ctx, p); err != nil || len(got) != 1 || got[0].ID != pinned.ID {
		t.Fatalf("ClaimDue by a zone=a node = %+v, %v; want the pinned run", got, err)
	}
	p = dueParams("n2", t0.Add(time.Hour-time.Second), 10, onlyA)
	p.Horizon = t0.Add(time.Hour)
	if got, err = s.ClaimDue(ctx, p); err != nil || len(got) != 1 || got[0].ID != later.ID {
		t.Fatalf("ClaimDue with a horizon = %+v, %v; want the run due at the horizon", got, err)
	}
}

// testClaimDueConcurrent: replicas polling together claim every run once.
func testClaimDueConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	const n = 40
	for i := range n {
		queue(t, s, e, nr("a", t0.Add(time.Duration(i)*time.Millisecond)))
	}
	now := t0.Add(time.Second)
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for _, node := range []string{"n1", "n2", "n3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.ClaimDue(ctx, dueParams(node, now, 3, func(string) bool { return true }))
				if err != nil {
					t.Errorf("ClaimDue(%s): %v", node, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, r := range got {
					if other, dup := seen[r.ID]; dup {
						t.Errorf("run %d claimed by %s and %s", r.ID, other, node)
					}
					seen[r.ID] = node
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d of %d runs claimed", len(seen), n)
	}
}
