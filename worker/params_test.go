package worker

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/storage"
)

const paramsConfig = `
defaults: {concurrency: allow}
jobs:
  - name: p
    schedule: "* * * * *"
    command: ["true"]
    params:
      - {name: day, default: "d0"}
      - {name: who}
`

// TestPoolPassesParams: a manual run executes with the params the leader
// stored on it; a scheduled run with the job's defaults (a parameter
// without one left out); a run whose params the worker's definition
// refuses fails without starting.
func TestPoolPassesParams(t *testing.T) {
	t.Parallel()
	got := make(chan map[string]string, 10)
	exec := func(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result {
		if o.StartGate != nil {
			if err := o.StartGate(); err != nil {
				return executor.Result{Status: jobs.StatusCanceled, NotStarted: true}
			}
		}
		got <- o.Params
		return executor.Result{Status: jobs.StatusSucceeded}
	}
	r := newIdleRig(t, paramsConfig)
	r.start(Options{Workers: 2, Exec: exec})
	ctx := context.Background()
	j := r.cfg.Job("p")

	r.dispatch("p", t0)
	if p := <-got; !maps.Equal(p, map[string]string{"day": "d0"}) {
		t.Errorf("scheduled run got params %v, want the defaults", p)
	}
	r.wait(r.finished, "the scheduled run")

	for _, tc := range []struct {
		given map[string]string
		ok    bool
	}{
		{map[string]string{"who": "alice"}, true},
		{map[string]string{"who": "bob", "PATH": "/tmp"}, false},
	} {
		run, err := r.store.TriggerRun(ctx, storage.TriggerParams{Job: "p", At: r.clk.Now(), Params: tc.given})
		if err != nil {
			t.Fatal(err)
		}
		// The second as a leader whose definition (with a forged digest)
		// declared PATH too would queue it.
		leaderDef := j
		if !tc.ok {
			path, err := jobs.NewParam("PATH", nil, "")
			if err != nil {
				t.Fatal(err)
			}
			leaderDef = &jobs.Job{Name: "p", Digest: j.Digest, Settings: &jobs.Settings{Params: &jobs.ParamSpec{List: append([]jobs.Param{path}, j.Params.List...)}}}
		}
		if _, err := r.store.PromoteScheduled(ctx, storage.PromoteParams{Epoch: r.epoch, Now: r.clk.Now(),
			Job: func(string) *jobs.Job { return leaderDef }}); err != nil {
			t.Fatal(err)
		}
		if err := r.queue.Push(ctx, storage.QueueItem{RunID: run.ID, Job: "p", Digest: j.Digest}); err != nil {
			t.Fatal(err)
		}
		done := r.wait(r.finished, "the manual run")
		if tc.ok {
			select {
			case p := <-got:
				if !maps.Equal(p, map[string]string{"day": "d0", "who": "alice"}) {
					t.Errorf("manual run got %v", p)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the manual run did not execute")
			}
			if done.Status != jobs.StatusSucceeded {
				t.Errorf("manual run ended %s", done.Status)
			}
			continue
		}
		if done.Status != jobs.StatusFailed {
			t.Errorf("run with refused params ended %s, want failed", done.Status)
		}
		select {
		case p := <-got:
			t.Errorf("run with refused params executed with %v", p)
		default:
		}
	}
}
