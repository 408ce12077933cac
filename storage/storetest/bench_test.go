package storetest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/storetest"
)

const (
	benchRuns        = 2000
	benchWorkers     = 16 // finishing goroutines of the one-by-one pipeline, as worker.DefaultWorkers
	benchClaimBatch  = 64
	benchFinishBatch = 128
)

// BenchmarkClaimFinish measures the store's side of the worker's cycle on
// benchRuns queued runs: claim each, then record its result, with the
// work itself taking no time. "single" is the pipeline of one ClaimMany
// transaction per run from one pop loop and one Finish transaction per
// run from benchWorkers goroutines; "batched" claims with ClaimMany of
// benchClaimBatch runs from one loop and records with FinishMany of
// whatever is waiting (up to benchFinishBatch) from one finisher. It
// reports runs/s.
//
//	go test -run '^$' -bench ClaimFinish -benchtime 3x ./storage/storetest
func BenchmarkClaimFinish(b *testing.B) {
	for _, e := range engines(b) {
		epoch, err := e.store.BumpEpoch(context.Background(), "leader")
		if err != nil {
			b.Fatal(err)
		}
		round := 0
		for _, mode := range []struct {
			name string
			run  func(b *testing.B, s storage.Store, runs []jobs.Run, now time.Time)
		}{
			{"single", benchSingle},
			{"batched", benchBatched},
		} {
			b.Run(e.name+"/"+mode.name, func(b *testing.B) {
				var took time.Duration
				for range b.N {
					b.StopTimer()
					round++
					now := t0.Add(time.Duration(round) * time.Hour)
					runs := benchQueue(b, e.store, epoch, now, round)
					b.StartTimer()
					start := time.Now()
					mode.run(b, e.store, runs, now)
					took += time.Since(start)
				}
				b.ReportMetric(float64(b.N*benchRuns)/took.Seconds(), "runs/s")
			})
		}
	}
}

// benchQueue dispatches benchRuns queued runs due at now.
func benchQueue(b *testing.B, s storage.Store, epoch int64, now time.Time, round int) []jobs.Run {
	in := make([]storage.NewRun, benchRuns)
	for i := range in {
		in[i] = storage.NewRun{Job: fmt.Sprintf("job-%04d", i), Digest: "d", ScheduledAt: now, Trigger: jobs.TriggerSchedule,
			Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: now, Concurrency: jobs.ConcurrencyAllow}
	}
	runs, err := s.Dispatch(context.Background(), storage.DispatchParams{Epoch: epoch, Now: now, Runs: in})
	if err != nil || len(runs) != benchRuns {
		b.Fatalf("round %d: Dispatch = %d runs, %v", round, len(runs), err)
	}
	return runs
}

func benchClaim(r jobs.Run, now time.Time) storage.ClaimParams {
	return storage.ClaimParams{RunID: r.ID, Job: r.Job, Digest: r.Digest, Node: "n1", Now: now, LeaseUntil: now.Add(time.Minute)}
}

func benchFinish(r jobs.Run, now time.Time) storage.FinishParams {
	code := 0
	return storage.FinishParams{RunID: r.ID, Attempt: r.Attempt, Node: "n1", Status: jobs.StatusSucceeded,
		FinishedAt: now.Add(time.Second), ExitCode: &code, Output: "hello\n"}
}

func benchSingle(b *testing.B, s storage.Store, runs []jobs.Run, now time.Time) {
	ctx := context.Background()
	claimed := make(chan jobs.Run, benchWorkers)
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			for r := range claimed {
				if _, err := s.Finish(ctx, benchFinish(r, now)); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for _, r := range runs {
		got, err := storetest.ClaimOne(ctx, s, benchClaim(r, now))
		if err != nil {
			b.Error(err)
			continue
		}
		claimed <- got
	}
	close(claimed)
	wg.Wait()
}

func benchBatched(b *testing.B, s storage.Store, runs []jobs.Run, now time.Time) {
	ctx := context.Background()
	claimed := make(chan jobs.Run, benchFinishBatch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := range claimed {
			batch := []storage.FinishParams{benchFinish(r, now)}
		more:
			for len(batch) < benchFinishBatch {
				select {
				case r, ok := <-claimed:
					if !ok {
						break more
					}
					batch = append(batch, benchFinish(r, now))
				default:
					break more
				}
			}
			res, err := s.FinishMany(ctx, batch)
			if err != nil {
				b.Error(err)
				continue
			}
			for _, r := range res {
				if r.Err != nil {
					b.Error(r.Err)
				}
			}
		}
	}()
	for lo := 0; lo < len(runs); lo += benchClaimBatch {
		params := make([]storage.ClaimParams, 0, benchClaimBatch)
		for _, r := range runs[lo:min(lo+benchClaimBatch, len(runs))] {
			params = append(params, benchClaim(r, now))
		}
		got, err := s.ClaimMany(ctx, params)
		if err != nil || len(got) != len(params) {
			b.Errorf("ClaimMany claimed %d of %d: %v", len(got), len(params), err)
		}
		for _, r := range got {
			claimed <- r
		}
	}
	close(claimed)
	<-done
}

// BenchmarkDispatch measures the leader's write: one Dispatch transaction
// of benchDispatchRows new queued runs of distinct jobs, with their
// cursors and a watermark, as a term's flush of a busy tick. It reports
// rows/s.
//
//	go test -run '^$' -bench Dispatch -benchtime 5x ./storage/storetest
func BenchmarkDispatch(b *testing.B) {
	const benchDispatchRows = 5000
	for _, e := range engines(b) {
		epoch, err := e.store.BumpEpoch(context.Background(), "leader")
		if err != nil {
			b.Fatal(err)
		}
		round := 0
		b.Run(e.name, func(b *testing.B) {
			var took time.Duration
			for range b.N {
				round++
				now := t0.Add(time.Duration(round) * time.Minute)
				in := make([]storage.NewRun, benchDispatchRows)
				cursors := make(map[string]time.Time, benchDispatchRows)
				for i := range in {
					name := fmt.Sprintf("job-%05d", i)
					in[i] = storage.NewRun{Job: name, Digest: "d", ScheduledAt: now, Trigger: jobs.TriggerSchedule,
						Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: now, Concurrency: jobs.ConcurrencyAllow}
					cursors[name] = now
				}
				start := time.Now()
				runs, err := e.store.Dispatch(context.Background(), storage.DispatchParams{Epoch: epoch, Now: now, Runs: in,
					Cursors: cursors, Watermark: &storage.Watermark{At: now, Schedule: "s"}})
				took += time.Since(start)
				if err != nil || len(runs) != benchDispatchRows {
					b.Fatalf("round %d: Dispatch = %d runs, %v", round, len(runs), err)
				}
			}
			b.ReportMetric(float64(b.N*benchDispatchRows)/took.Seconds(), "rows/s")
		})
	}
}
