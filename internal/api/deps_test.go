package api

import (
	"slices"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/storetest"
)

const depsYAML = apitest.ConfigYAML + `  - name: publish
    after: [backup, {job: report, on: completed}]
    command: ["/bin/true"]
  - name: notify
    after: [publish]
    command: ["/bin/true"]
`

// TestDependencyFields: jobs show after and dependents, a run's detail
// its upstream and downstream runs, and the graph the dashboard draws
// follows the chain both ways.
func TestDependencyFields(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.cfg = apitest.MustConfig(t, depsYAML)
	ctx := t.Context()
	epoch, err := f.store.BumpEpoch(ctx, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	var ups []int64
	for _, job := range []string{"backup", "report"} {
		queued, err := f.store.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: at, Runs: []storage.NewRun{{Job: job,
			Digest: f.cfg.Job(job).Digest, ScheduledAt: at, NotBefore: at, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
			MaxAttempts: 1, Concurrency: jobs.ConcurrencyAllow, DepsPending: true}}})
		if err != nil || len(queued) != 1 {
			t.Fatalf("Dispatch: %v", err)
		}
		r, err := storetest.ClaimOne(ctx, f.store, storage.ClaimParams{RunID: queued[0].ID, Job: job, Digest: queued[0].Digest,
			Node: "w", Now: at, LeaseUntil: at.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "w", Status: jobs.StatusSucceeded, FinishedAt: at}); err != nil {
			t.Fatal(err)
		}
		ups = append(ups, r.ID)
	}
	dep, err := f.store.ResolveDeps(ctx, storage.DepsParams{Epoch: epoch, Now: at, Dependents: f.cfg.Dependents, Job: f.cfg.Job})
	if err != nil || len(dep) != 1 {
		t.Fatalf("ResolveDeps = %+v, %v", dep, err)
	}
	srv := f.server(Auth{})

	var d RunDetail
	if resp := do(t, "GET", srv.URL+"/api/v1/runs/"+itoa(dep[0].ID), "", nil, &d); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d.Run.Trigger != jobs.TriggerDependency || !slices.Equal(d.Run.UpstreamRuns, ups) {
		t.Errorf("dependent run %+v, want trigger dependency after %v", d.Run, ups)
	}
	if resp := do(t, "GET", srv.URL+"/api/v1/runs/"+itoa(ups[1]), "", nil, &d); resp.StatusCode != 200 ||
		!slices.Equal(d.Run.DownstreamRuns, []int64{dep[0].ID}) {
		t.Errorf("upstream run's downstream_runs = %v, want [%d]", d.Run.DownstreamRuns, dep[0].ID)
	}
	var j Job
	if resp := do(t, "GET", srv.URL+"/api/v1/jobs/publish", "", nil, &j); resp.StatusCode != 200 ||
		len(j.After) != 2 || j.After[1] != (jobs.Upstream{Job: "report", On: jobs.DepCompleted}) || j.Schedule != "" ||
		j.NextFire != nil || !slices.Equal(j.Dependents, []string{"notify"}) {
		t.Errorf("job publish = %+v", j)
	}
	g, err := f.svc.Graph(ctx, "notify")
	if err != nil {
		t.Fatal(err)
	}
	want := []jobs.DepEdge{{Upstream: "publish", Job: "notify", On: jobs.DepSuccess},
		{Upstream: "backup", Job: "publish", On: jobs.DepSuccess}, {Upstream: "report", Job: "publish", On: jobs.DepCompleted}}
	if !slices.Equal(g.Upstream, want) || len(g.Downstream) != 0 {
		t.Errorf("graph of notify = %+v, want upstream %v", g, want)
	}
	if _, err := f.svc.Graph(ctx, "nope"); err == nil {
		t.Error("graph of an unknown job: no error")
	}
}
