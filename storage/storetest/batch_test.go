package storetest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/storetest"
)

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC)

// TestClaimSkipsCancelRequested: a queued run flagged for cancellation is
// not claimed, by a ClaimMany of one run or of several. The API cannot
// produce such a row (a cancel request ends a queued run at once), so the
// test writes the flag itself: the claim's own check is what is under test.
func TestClaimSkipsCancelRequested(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			ctx := t.Context()
			epoch, err := e.store.BumpEpoch(ctx, "leader")
			if err != nil {
				t.Fatal(err)
			}
			var runs []storage.NewRun
			for _, job := range []string{"flagged", "plain"} {
				runs = append(runs, storage.NewRun{Job: job, Digest: "d", ScheduledAt: t0, Trigger: jobs.TriggerSchedule,
					Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: t0, Concurrency: jobs.ConcurrencyAllow})
			}
			queued, err := e.store.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: t0, Runs: runs})
			if err != nil || len(queued) != 2 {
				t.Fatalf("Dispatch = %d runs, %v", len(queued), err)
			}
			flagged, plain := queued[0], queued[1]
			if _, err := e.raw.ExecContext(ctx, "UPDATE runs SET cancel_requested = 1 WHERE id = ?", flagged.ID); err != nil {
				t.Fatal(err)
			}
			params := func(r jobs.Run) storage.ClaimParams {
				return storage.ClaimParams{RunID: r.ID, Job: r.Job, Digest: r.Digest, Node: "n1", Now: t0, LeaseUntil: t0.Add(time.Minute)}
			}
			if _, err := storetest.ClaimOne(ctx, e.store, params(flagged)); !errors.Is(err, storage.ErrNotClaimed) {
				t.Fatalf("ClaimOne of a cancel-requested run: %v, want ErrNotClaimed", err)
			}
			got, err := e.store.ClaimMany(ctx, []storage.ClaimParams{params(flagged), params(plain)})
			if err != nil || len(got) != 1 || got[0].ID != plain.ID {
				t.Fatalf("ClaimMany = %v, %v; want only run %d", got, err, plain.ID)
			}
			r, atts, err := e.store.GetRun(ctx, flagged.ID)
			if err != nil || r.Status != jobs.StatusQueued || r.Attempt != 0 || len(atts) != 0 {
				t.Fatalf("cancel-requested run after the claims: %s attempt %d, %d attempts, %v; want untouched",
					r.Status, r.Attempt, len(atts), err)
			}
		})
	}
}
