package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// testDispatchTiming logs how long one Dispatch of many queued runs takes,
// the leader's work when many jobs fire in the same second. It measures;
// it does not judge, and is skipped with -short or -race.
func testDispatchTiming(t *testing.T, s storage.Store) {
	if testing.Short() || raceEnabled {
		t.Skip("timing skipped with -short and under the race detector")
	}
	e := bump(t, s)
	tick := t0
	for _, policy := range []jobs.ConcurrencyPolicy{jobs.ConcurrencyAllow, jobs.ConcurrencyForbid} {
		for _, n := range []int{1_000, 10_000} {
			tick = tick.Add(time.Minute)
			in := make([]storage.NewRun, n)
			for i := range in {
				// Fresh jobs each round, so every row is inserted queued.
				job := fmt.Sprintf("%s-%d-%05d", policy, n, i)
				in[i] = with(nr(job, tick), func(r *storage.NewRun) { r.Concurrency = policy })
			}
			cursors := make(map[string]time.Time, n)
			for _, r := range in {
				cursors[r.Job] = tick
			}
			start := time.Now()
			got, err := s.Dispatch(t.Context(), storage.DispatchParams{Epoch: e, Now: tick, Runs: in, Cursors: cursors})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("Dispatch returned %d runs, want %d", len(got), n)
			}
			t.Logf("Dispatch of %6d queued runs (concurrency %s) with cursors: %v (%.0f runs/s)",
				n, policy, took.Round(time.Millisecond), float64(n)/took.Seconds())
		}
	}
}
