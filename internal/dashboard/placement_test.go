package dashboard

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// TestPlacementShown: the cluster page shows each node's labels, the runs
// list and the run page a broadcast shard's place and pin.
func TestPlacementShown(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	ctx := context.Background()
	now := apitest.Now
	for _, n := range []storage.Node{
		{ID: "node-a", Host: "host-a", Role: "all", Version: "test", Digest: r.h.Config.Digest, StartedAt: now.Add(-time.Hour), Heartbeat: now,
			Labels: jobs.Labels{"zone": "a", "gpu": "true"}},
		{ID: "node-b", Host: "host-b", Role: "worker", Version: "test", Digest: "0123456789abcdef", StartedAt: now.Add(-time.Hour), Heartbeat: now,
			Labels: jobs.Labels{"zone": "a"}},
	} {
		if err := r.h.Store.UpsertNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	_, epoch, err := r.h.Store.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Minute)
	shards, err := r.h.Store.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: at, LiveSince: now.Add(-time.Minute),
		Runs: []storage.NewRun{{Job: "backup", Digest: "d", ScheduledAt: at, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
			MaxAttempts: 1, NotBefore: at, Concurrency: jobs.ConcurrencyAllow, RunOnLabels: "zone=a", Broadcast: true}}})
	if err != nil || len(shards) != 2 {
		t.Fatalf("Dispatch = %v, %v; want 2 shards", shards, err)
	}
	_, body, _ := r.get(r.c, "/cluster")
	wantContains(t, "GET /cluster", body, "<th title=\"tock run --labels", "<code>gpu=true,zone=a</code>", "<code>zone=a</code>")
	_, body, _ = r.get(r.c, "/runs?job=backup")
	wantContains(t, "GET /runs", body, `<td class="shard">0/2</td>`, `<td class="shard">1/2</td>`, `<td class="shard">–</td>`)
	_, body, _ = r.get(r.c, fmt.Sprintf("/runs/%d", shards[1].ID))
	wantContains(t, "GET /runs/id", body, `<dd id="shard">1 of 2`, "pinned to node-b", `<dd id="run-on"><code>zone=a</code>`)
}
