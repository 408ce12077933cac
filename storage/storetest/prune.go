package storetest

import (
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var pruneCases = []testCase{
	{"Prune", testPrune},
}

func testPrune(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	missed := func(job string, m int) storage.NewRun {
		return with(nr(job, at(m)), func(r *storage.NewRun) { r.Status = jobs.StatusMissed })
	}
	// a: five old terminal rows, then an active run.
	dispatch(t, s, e, at(10), missed("a", 0), missed("a", 1), missed("a", 2), missed("a", 3), missed("a", 4))
	active := queue(t, s, e, nr("a", at(5)))
	// b: three runs that ran, with attempts.
	var b []jobs.Run
	for m := range 3 {
		r := claim(t, s, queue(t, s, e, nr("b", at(m))), "n1", at(m), at(m+1))
		if _, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusSucceeded, FinishedAt: at(m)}); err != nil {
			t.Fatal(err)
		}
		b = append(b, r)
	}
	// c: terminal, but finished after the cut-off.
	dispatch(t, s, e, at(200), missed("c", 0), missed("c", 1))
	before := at(60)

	prune := func(params storage.PruneParams, want int64) {
		t.Helper()
		n, err := s.Prune(ctx, params)
		if err != nil {
			t.Fatalf("Prune(%+v): %v", params, err)
		}
		if n != want {
			t.Fatalf("Prune(%+v) deleted %d runs, want %d", params, n, want)
		}
	}
	count := func(job string) int { t.Helper(); return len(list(t, s, storage.RunFilter{Job: job})) }

	// Limit stops a round part-way (here inside a batch and across jobs);
	// the next round goes on where it stopped.
	prune(storage.PruneParams{Before: before, KeepPerJob: 2, Batch: 2, Limit: 3}, 3)
	prune(storage.PruneParams{Before: before, KeepPerJob: 2, Batch: 2}, 4+1-3)
	if na, nb, nc := count("a"), count("b"), count("c"); na != 2 || nb != 2 || nc != 2 {
		t.Fatalf("after keeping 2 per job: a=%d b=%d c=%d runs, want 2 2 2", na, nb, nc)
	}
	_, _, err := s.GetRun(ctx, b[0].ID)
	wantErr(t, "GetRun of a pruned run", err, storage.ErrNotFound)
	if _, atts := get(t, s, b[2].ID); len(atts) != 1 {
		t.Fatalf("kept run has %d attempts, want 1", len(atts))
	}

	prune(storage.PruneParams{Before: before}, 1+2)
	checkStored(t, s, active)
	if na, nb, nc := count("a"), count("b"), count("c"); na != 1 || nb != 0 || nc != 2 {
		t.Fatalf("after pruning all old runs: a=%d b=%d c=%d, want 1 0 2", na, nb, nc)
	}
	prune(storage.PruneParams{Before: at(100000)}, 2)
	prune(storage.PruneParams{Before: at(100000)}, 0)
	checkStored(t, s, active)
}
