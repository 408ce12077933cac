package storetest

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var placementCases = []testCase{
	{"NodeLabels", testNodeLabels},
	{"BroadcastDispatch", testBroadcastDispatch},
	{"BroadcastDispatchFenced", testBroadcastFenced},
	{"BroadcastForbid", testBroadcastForbid},
	{"PinnedClaim", testPinnedClaim},
	{"PinReleasedWhenLost", testPinReleasedWhenLost},
	{"ReleasePins", testReleasePins},
	{"LabelsClaim", testLabelsClaim},
	{"FailUnclaimedNamesLabels", testFailUnclaimedLabels},
	{"PromoteStampsPlacement", testPromotePlacement},
}

// cluster records nodes for the placement tests, all with a heartbeat at
// t0 unless named in dead (heartbeat an hour before): n1 zone=a, n2
// zone=b, n3 zone=a,gpu=true, n4 zone=a (role scheduler: runs no
// workers).
func cluster(t *testing.T, s storage.Store, dead ...string) {
	t.Helper()
	for _, n := range []storage.Node{
		{ID: "n1", Role: "all", Labels: jobs.Labels{"zone": "a"}},
		{ID: "n2", Role: "worker", Labels: jobs.Labels{"zone": "b"}},
		{ID: "n3", Role: "all", Labels: jobs.Labels{"zone": "a", "gpu": "true"}},
		{ID: "n4", Role: "scheduler", Labels: jobs.Labels{"zone": "a"}},
	} {
		n.StartedAt, n.Heartbeat = t0.Add(-time.Hour), t0
		if slices.Contains(dead, n.ID) {
			n.Heartbeat = t0.Add(-time.Hour)
		}
		if err := s.UpsertNode(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
}

// bc is a queued broadcast tick of job at t0 requiring labels.
func bc(job, labels string) storage.NewRun {
	return with(nr(job, t0), func(r *storage.NewRun) { r.Broadcast, r.RunOnLabels = true, labels })
}

func dispatchLive(t *testing.T, s storage.Store, epoch int64, runs ...storage.NewRun) []jobs.Run {
	t.Helper()
	got, err := s.Dispatch(t.Context(), storage.DispatchParams{Epoch: epoch, Now: t0, Runs: runs, LiveSince: t0.Add(-time.Minute)})
	if err != nil {
		t.Fatalf("Dispatch: %v", err)
	}
	return got
}

// shards describes runs as job/shard/total@pin.
func shards(runs []jobs.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Job + "/" + itoa(r.Shard) + "/" + itoa(r.ShardTotal) + "@" + r.PinnedNode
	}
	slices.Sort(out)
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func testNodeLabels(t *testing.T, s storage.Store) {
	cluster(t, s)
	nodes, err := s.Nodes(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range nodes {
		got[n.ID] = n.Labels.String()
	}
	want := map[string]string{"n1": "zone=a", "n2": "zone=b", "n3": "gpu=true,zone=a", "n4": "zone=a"}
	for id, l := range want {
		if got[id] != l {
			t.Errorf("node %s labels %q, want %q", id, got[id], l)
		}
	}
	// A restart with other labels replaces them.
	if err := s.UpsertNode(t.Context(), storage.Node{ID: "n1", Role: "all", StartedAt: t0, Heartbeat: t0}); err != nil {
		t.Fatal(err)
	}
	nodes, _ = s.Nodes(t.Context(), t0)
	for _, n := range nodes {
		if n.ID == "n1" && len(n.Labels) != 0 {
			t.Errorf("n1 restarted without labels still has %v", n.Labels)
		}
	}
}

// testBroadcastDispatch: a broadcast tick becomes one row per live
// matching worker node, pinned to it, numbered in node order; dispatching
// it again adds nothing; with no matching node it is one unpinned shard.
func testBroadcastDispatch(t *testing.T, s storage.Store) {
	cluster(t, s, "n2")
	e := bump(t, s)
	got := dispatchLive(t, s, e, bc("all", ""), bc("za", "zone=a"), bc("gpu", "gpu=true"), bc("none", "zone=z"), nr("plain", t0))
	want := []string{"all/0/2@n1", "all/1/2@n3", "gpu/0/1@n3", "none/0/1@", "plain/0/0@", "za/0/2@n1", "za/1/2@n3"}
	if g := shards(got); !slices.Equal(g, want) {
		t.Fatalf("Dispatch returned %v, want %v", g, want)
	}
	for _, r := range got {
		if r.ID == 0 || r.Status != jobs.StatusQueued {
			t.Fatalf("shard %+v: want an id and queued", r)
		}
		checkStored(t, s, r)
	}
	// Again, now that n2 is live too: the ticks are in history, nothing is
	// added (not even n2's shard: a tick's total is fixed at dispatch).
	if err := s.UpsertNode(t.Context(), storage.Node{ID: "n2", Role: "worker", StartedAt: t0, Heartbeat: t0}); err != nil {
		t.Fatal(err)
	}
	if again := dispatchLive(t, s, e, bc("all", ""), bc("za", "zone=a"), bc("none", "zone=z"), nr("plain", t0)); len(again) != 0 {
		t.Fatalf("second Dispatch of the same ticks returned %v, want nothing", shards(again))
	}
	if all := list(t, s, storage.RunFilter{}); len(all) != len(want) {
		t.Fatalf("history holds %d rows, want %d", len(all), len(want))
	}
	// The next tick is split over the nodes live then.
	next := with(bc("all", ""), func(r *storage.NewRun) { r.ScheduledAt, r.NotBefore = t0.Add(time.Minute), t0.Add(time.Minute) })
	if g := shards(dispatchLive(t, s, e, next)); !slices.Equal(g, []string{"all/0/3@n1", "all/1/3@n2", "all/2/3@n3"}) {
		t.Fatalf("next tick: %v", g)
	}
}

// testBroadcastFenced: an ex-leader's broadcast dispatch writes no shard.
func testBroadcastFenced(t *testing.T, s storage.Store) {
	cluster(t, s)
	old := bump(t, s)
	cur := bump(t, s)
	_, err := s.Dispatch(t.Context(), storage.DispatchParams{Epoch: old, Now: t0, Runs: []storage.NewRun{bc("all", "")},
		LiveSince: t0.Add(-time.Minute)})
	wantErr(t, "Dispatch of a fenced epoch", err, storage.ErrFenced)
	if all := list(t, s, storage.RunFilter{}); len(all) != 0 {
		t.Fatalf("fenced dispatch left %d rows", len(all))
	}
	if got := dispatchLive(t, s, cur, bc("all", "")); len(got) != 3 {
		t.Fatalf("leader's dispatch returned %d shards, want 3", len(got))
	}
}

// testBroadcastForbid: under forbid a tick is skipped whole, as one row,
// while any shard of an earlier tick is active.
func testBroadcastForbid(t *testing.T, s storage.Store) {
	cluster(t, s)
	e := bump(t, s)
	forbid := func(at time.Time) storage.NewRun {
		return with(bc("f", "zone=a"), func(r *storage.NewRun) {
			r.Concurrency, r.ScheduledAt, r.NotBefore = jobs.ConcurrencyForbid, at, at
		})
	}
	if got := dispatchLive(t, s, e, forbid(t0)); len(got) != 2 {
		t.Fatalf("first tick: %d shards, want 2", len(got))
	}
	if got := dispatchLive(t, s, e, forbid(t0.Add(time.Minute))); len(got) != 0 {
		t.Fatalf("second tick while the first is active: %v, want skipped", shards(got))
	}
	skipped := list(t, s, storage.RunFilter{Status: jobs.StatusSkipped})
	if len(skipped) != 1 || skipped[0].ShardTotal != 0 {
		t.Fatalf("skipped rows %+v, want one unsplit row", skipped)
	}
}

func claimAs(t *testing.T, s storage.Store, r jobs.Run, node string, labels jobs.Labels, now time.Time) (jobs.Run, bool) {
	t.Helper()
	got, err := s.ClaimMany(t.Context(), []storage.ClaimParams{{RunID: r.ID, Job: r.Job, Digest: r.Digest, Node: node,
		Labels: labels, Now: now, LeaseUntil: now.Add(time.Minute)}})
	if err != nil {
		t.Fatalf("ClaimMany: %v", err)
	}
	if len(got) == 0 {
		return jobs.Run{}, false
	}
	return got[0], true
}

// testPinnedClaim: while its pin holds, a shard is claimed by its node
// only, whatever labels the others carry.
func testPinnedClaim(t *testing.T, s storage.Store) {
	cluster(t, s)
	e := bump(t, s)
	got := dispatchLive(t, s, e, bc("za", "zone=a"))
	first := got[0]
	if first.PinnedNode != "n1" {
		t.Fatalf("shard 0 pinned to %q, want n1", first.PinnedNode)
	}
	if _, ok := claimAs(t, s, first, "n3", jobs.Labels{"zone": "a", "gpu": "true"}, t0); ok {
		t.Fatal("n3 claimed a shard pinned to n1")
	}
	r, ok := claimAs(t, s, first, "n1", jobs.Labels{"zone": "a"}, t0)
	if !ok || r.Node != "n1" || r.Shard != 0 || r.ShardTotal != 2 || r.PinnedNode != "n1" {
		t.Fatalf("n1's claim of its shard = (%+v, %v)", r, ok)
	}
}

// testPinReleasedWhenLost: a reaped shard goes back to queued unpinned,
// so another matching node runs its retry; a non-matching one still may
// not.
func testPinReleasedWhenLost(t *testing.T, s storage.Store) {
	cluster(t, s)
	e := bump(t, s)
	sh := with(bc("za", "zone=a"), func(r *storage.NewRun) { r.MaxAttempts = 2 })
	first := dispatchLive(t, s, e, sh)[0]
	if _, ok := claimAs(t, s, first, "n1", jobs.Labels{"zone": "a"}, t0); !ok {
		t.Fatal("n1 could not claim its shard")
	}
	now := t0.Add(2 * time.Minute)
	reaped, err := s.ReapExpired(t.Context(), storage.ReapParams{Epoch: e, Now: now})
	if err != nil || len(reaped) != 1 {
		t.Fatalf("ReapExpired = (%v, %v), want the shard", reaped, err)
	}
	if r := reaped[0]; r.Status != jobs.StatusQueued || r.PinnedNode != "" || r.Shard != 0 || r.ShardTotal != 2 || r.RunOnLabels != "zone=a" {
		t.Fatalf("reaped shard %+v: want queued, unpinned, shard 0 of 2 requiring zone=a", r)
	}
	if stored, _ := get(t, s, first.ID); stored.PinnedNode != "" || stored.Route() != "labels:zone=a" {
		t.Fatalf("stored shard pinned to %q (route %q), want released", stored.PinnedNode, stored.Route())
	}
	if _, ok := claimAs(t, s, first, "n2", jobs.Labels{"zone": "b"}, now); ok {
		t.Fatal("n2 (zone=b) claimed the retry of a zone=a shard")
	}
	r, ok := claimAs(t, s, first, "n3", jobs.Labels{"zone": "a", "gpu": "true"}, now)
	if !ok || r.Attempt != 2 || r.Node != "n3" || r.Shard != 0 {
		t.Fatalf("n3's claim of the retry = (%+v, %v), want attempt 2 of shard 0", r, ok)
	}
}

// testReleasePins: queued shards pinned to a node that stopped
// heartbeating are released, those of live nodes are not; fenced.
func testReleasePins(t *testing.T, s storage.Store) {
	cluster(t, s)
	e := bump(t, s)
	got := dispatchLive(t, s, e, bc("za", "zone=a"))
	// n1 dies: no heartbeat since t0.
	p := storage.ReleaseParams{Epoch: e, Now: t0.Add(time.Minute), LiveSince: t0.Add(30 * time.Second)}
	if err := s.UpsertNode(t.Context(), storage.Node{ID: "n3", Role: "all", Labels: jobs.Labels{"zone": "a", "gpu": "true"},
		StartedAt: t0, Heartbeat: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	stale := p
	stale.Epoch = e - 1
	if err := bumpTo(t, s, e); err != nil {
		t.Fatal(err)
	}
	_, err := s.ReleasePins(t.Context(), stale)
	wantErr(t, "ReleasePins with a stale epoch", err, storage.ErrFenced)
	released, err := s.ReleasePins(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(released) != 1 || released[0].ID != got[0].ID || released[0].PinnedNode != "" ||
		!strings.Contains(released[0].Error, "pinned node n1 is no longer live") {
		t.Fatalf("ReleasePins = %+v, want shard 0 (n1's) released", released)
	}
	if again, err := s.ReleasePins(t.Context(), p); err != nil || len(again) != 0 {
		t.Fatalf("second ReleasePins = (%v, %v), want nothing", again, err)
	}
	if stored, _ := get(t, s, got[1].ID); stored.PinnedNode != "n3" {
		t.Fatalf("live n3's shard pinned to %q after ReleasePins", stored.PinnedNode)
	}
	if r, ok := claimAs(t, s, got[0], "n3", jobs.Labels{"zone": "a", "gpu": "true"}, p.Now); !ok || r.Shard != 0 {
		t.Fatalf("n3's claim of the released shard = (%+v, %v)", r, ok)
	}
}

// bumpTo checks the stored epoch is e (ReleasePins' fence reads it).
func bumpTo(t *testing.T, s storage.Store, e int64) error {
	t.Helper()
	_, cur, err := s.Leader(t.Context())
	if err == nil && cur != e {
		t.Fatalf("leader epoch %d, want %d", cur, e)
	}
	return err
}

// testLabelsClaim: a run requiring labels is claimed only by a node
// carrying them all.
func testLabelsClaim(t *testing.T, s storage.Store) {
	e := bump(t, s)
	r := queue(t, s, e, with(nr("gpu", t0), func(r *storage.NewRun) { r.RunOnLabels = "gpu=true,zone=a" }))
	if r.RunOnLabels != "gpu=true,zone=a" || r.Route() != "labels:gpu=true,zone=a" {
		t.Fatalf("queued run requires %q (route %q)", r.RunOnLabels, r.Route())
	}
	for _, l := range []jobs.Labels{nil, {"zone": "a"}, {"gpu": "true", "zone": "b"}} {
		if _, ok := claimAs(t, s, r, "n1", l, t0); ok {
			t.Fatalf("a node with labels %v claimed a run requiring gpu=true,zone=a", l)
		}
	}
	if got, ok := claimAs(t, s, r, "n3", jobs.Labels{"zone": "a", "gpu": "true", "rack": "7"}, t0); !ok || got.Node != "n3" {
		t.Fatalf("matching node's claim = (%+v, %v)", got, ok)
	}
}

func testFailUnclaimedLabels(t *testing.T, s storage.Store) {
	e := bump(t, s)
	queue(t, s, e, with(nr("za", t0), func(r *storage.NewRun) { r.RunOnLabels = "zone=a" }))
	got, err := s.FailUnclaimed(t.Context(), t0.Add(time.Minute), t0.Add(time.Minute))
	if err != nil || len(got) != 1 {
		t.Fatalf("FailUnclaimed = (%v, %v)", got, err)
	}
	if !strings.Contains(got[0].Error, "no live replica matches run_on labels zone=a") {
		t.Fatalf("reason %q does not name the labels", got[0].Error)
	}
	if stored, _ := get(t, s, got[0].ID); stored.Error != got[0].Error || stored.Status != jobs.StatusFailed {
		t.Fatalf("stored %+v", stored)
	}
}

// testPromotePlacement: a manual run of a job with run_on labels is
// queued requiring them; of a broadcast job, as shard 0 of 1.
func testPromotePlacement(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	defs := map[string]*jobs.Job{
		"gpu": {Name: "gpu", Digest: "d-gpu", Settings: &jobs.Settings{RunOn: &jobs.Placement{Labels: jobs.Labels{"gpu": "true", "zone": "a"}}}},
		"all": {Name: "all", Digest: "d-all", Settings: &jobs.Settings{RunOn: &jobs.Placement{Broadcast: true}}},
	}
	for _, name := range []string{"gpu", "all"} {
		if _, err := s.Trigger(ctx, name, t0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.PromoteScheduled(ctx, storage.PromoteParams{Epoch: e, Now: t0, Job: func(n string) *jobs.Job { return defs[n] }})
	if err != nil || len(got) != 2 {
		t.Fatalf("PromoteScheduled = (%v, %v)", got, err)
	}
	var gpu jobs.Run
	for _, r := range got {
		stored, _ := get(t, s, r.ID)
		switch r.Job {
		case "gpu":
			gpu = r
			if r.RunOnLabels != "gpu=true,zone=a" || stored.RunOnLabels != r.RunOnLabels || r.Route() != "labels:gpu=true,zone=a" {
				t.Errorf("manual gpu run: returned %q, stored %q", r.RunOnLabels, stored.RunOnLabels)
			}
		case "all":
			if r.ShardTotal != 1 || stored.ShardTotal != 1 || stored.Shard != 0 || stored.PinnedNode != "" {
				t.Errorf("manual broadcast run: returned %+v, stored %+v; want shard 0 of 1, unpinned", r, stored)
			}
		}
	}
	if _, ok := claimAs(t, s, gpu, "n1", jobs.Labels{"zone": "a"}, t0); ok {
		t.Error("a zone=a node claimed a manual run requiring gpu=true,zone=a")
	}
	if _, ok := claimAs(t, s, gpu, "n3", jobs.Labels{"zone": "a", "gpu": "true"}, t0); !ok {
		t.Error("a matching node could not claim the manual run")
	}
}
