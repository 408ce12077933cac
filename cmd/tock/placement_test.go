package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

const placementYAML = `
jobs:
  - {name: anywhere, schedule: '@daily', shell: x}
  - {name: zone-a, schedule: '@daily', shell: x, run_on: {labels: {zone: a}}}
  - {name: gpus, schedule: '@daily', shell: x, run_on: {labels: {gpu: "true"}, broadcast: true}}
  - {name: everyone, schedule: '@daily', shell: x, run_on: {broadcast: true}}
`

// TestValidatePlacement: validate prints each job's run_on, and with
// --store warns about jobs no live replica matches (a gone replica, or a
// scheduler-only one, does not count).
func TestValidatePlacement(t *testing.T) {
	clearEnv(t)
	t.Setenv("TOCK_LABELS", "")
	dir := t.TempDir()
	url, st := migratedStore(t, dir)
	ctx := context.Background()
	for _, n := range []storage.Node{
		{ID: "a1", Role: "all", Labels: jobs.Labels{"zone": "a"}, Heartbeat: apitest.Now},
		{ID: "b1", Role: "worker", Labels: jobs.Labels{"zone": "b"}, Heartbeat: apitest.Now},
		{ID: "gpu-gone", Role: "all", Labels: jobs.Labels{"gpu": "true"}, Heartbeat: apitest.Now.Add(-time.Hour)},
		{ID: "gpu-sched", Role: "scheduler", Labels: jobs.Labels{"gpu": "true"}, Heartbeat: apitest.Now},
	} {
		n.StartedAt = n.Heartbeat
		if err := st.UpsertNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	cfg := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(cfg, []byte(placementYAML), 0o644); err != nil {
		t.Fatal(err)
	}

	plain := cli("validate", "-n", "1", "--config", cfg)
	if plain.code != 0 || !strings.Contains(plain.stdout, "run_on: labels zone=a\n") ||
		!strings.Contains(plain.stdout, "run_on: labels gpu=true, broadcast\n") || strings.Contains(plain.stdout, "warning") {
		t.Fatalf("validate without a store: exit %d\n%s%s", plain.code, plain.stdout, plain.stderr)
	}
	r := cli("validate", "-n", "1", "--config", cfg, "--store", url)
	if r.code != 0 {
		t.Fatalf("validate --store: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		`warning: job "gpus": no live replica matches run_on labels gpu=true (live replicas: a1 [zone=a], b1 [zone=b])`,
		"zone-a: run_on matches 1 live replica(s): a1\n",
		"everyone: run_on matches 2 live replica(s): a1, b1\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate --store output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, `job "zone-a"`) || strings.Contains(r.stdout, "anywhere: run_on") {
		t.Errorf("unexpected placement lines:\n%s", r.stdout)
	}
}

func TestRunRefusesBadLabels(t *testing.T) {
	clearEnv(t)
	for in, want := range map[string]string{
		"zone":          `--labels "zone": label "zone": want key=value`,
		"zone=a,zone=b": `label "zone" given twice`,
		"zone=a b":      "invalid character",
	} {
		r := cli("run", "--labels", in, "--config", filepath.Join(t.TempDir(), "none.yaml"), "--listen", "")
		if r.code == 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "--labels") {
			t.Errorf("run --labels %q: exit %d, stderr %q; want an error naming --labels and containing %q", in, r.code, r.stderr, want)
		}
	}
}
