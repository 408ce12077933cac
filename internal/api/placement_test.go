package api

import (
	"net/http"
	"testing"

	"github.com/tock-sched/tock/jobs/jobfile"
)

// TestJobRunOn: a job's run_on is part of its JSON; a job without one has
// none.
func TestJobRunOn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg, err := jobfile.Parse("t.yaml", []byte(`jobs:
  - {name: gpus, schedule: '@daily', shell: x, run_on: {labels: {gpu: "true"}, broadcast: true}}
  - {name: plain, schedule: '@daily', shell: x}
`))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	srv := f.server(Auth{})
	var got Job
	if resp := do(t, http.MethodGet, srv.URL+"/api/v1/jobs/gpus", "", nil, &got); resp.StatusCode != 200 {
		t.Fatalf("GET gpus: %d", resp.StatusCode)
	}
	if got.RunOn == nil || !got.RunOn.Broadcast || got.RunOn.Labels.String() != "gpu=true" {
		t.Fatalf("gpus run_on %+v", got.RunOn)
	}
	var raw map[string]any
	do(t, http.MethodGet, srv.URL+"/api/v1/jobs/plain", "", nil, &raw)
	if _, ok := raw["run_on"]; ok {
		t.Fatalf("plain job has run_on: %v", raw)
	}
	want := map[string]any{"labels": map[string]any{"gpu": "true"}, "broadcast": true}
	do(t, http.MethodGet, srv.URL+"/api/v1/jobs/gpus", "", nil, &raw)
	if r, ok := raw["run_on"].(map[string]any); !ok || r["broadcast"] != want["broadcast"] ||
		r["labels"].(map[string]any)["gpu"] != "true" {
		t.Fatalf("gpus run_on JSON %v, want %v", raw["run_on"], want)
	}
}
