package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/storetest"
)

// TestValidateDependencies: tock validate prints the dependency graph of a
// config with after, nothing of it for one without, and names the file,
// line and field of a bad upstream.
func TestValidateDependencies(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("plain.yaml", "jobs:\n  - name: a\n    schedule: \"@daily\"\n    command: [\"true\"]\n")
	deps := write("deps.yaml", `jobs:
  - name: a
    schedule: "@daily"
    command: ["true"]
  - name: b
    after: [a]
    command: ["true"]
  - name: c
    after: [{job: b, on: failure}, a]
    shell: "echo c"
`)
	r := cli("validate", "-c", plain, "-n", "1")
	if r.code != 0 || strings.Contains(r.stdout, "dependencies") || strings.Contains(r.stdout, "->") {
		t.Fatalf("validate of a config without after: exit %d\n%s", r.code, r.stdout)
	}
	r = cli("validate", "-c", deps, "-n", "1")
	want := "dependencies:\n  a -> b (success)\n  b -> c (failure)\n  a -> c (success)\n"
	if r.code != 0 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "b  after a  command: true\n") ||
		!strings.Contains(r.stdout, "c  after b + a (same tick)  shell: echo c\n") {
		t.Fatalf("validate of a config with after: exit %d\n%s\nwant it to contain\n%s", r.code, r.stdout, want)
	}
	bad := write("bad.yaml", strings.Replace(string(must(os.ReadFile(deps))), "after: [a]", "after: [b]", 1))
	r = cli("validate", "-c", bad)
	if r.code != 1 || !strings.Contains(r.stderr, bad+":6: jobs[1].after[0]: job \"b\" cannot follow itself") {
		t.Fatalf("validate of a self-dependency: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestRunsShowLinks: tock runs show names a dependency run's upstream runs
// and an upstream run's downstream runs.
func TestRunsShowLinks(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	url, st := migratedStore(t, dir)
	ctx := context.Background()
	src := apitest.ConfigYAML + "  - name: publish\n    after: [backup]\n    command: [\"/bin/true\"]\n"
	cfg := apitest.MustConfig(t, src)
	epoch := must(st.BumpEpoch(ctx, "n1"))
	at := apitest.Now
	up := must(st.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: at, Runs: []storage.NewRun{{Job: "backup",
		Digest: cfg.Job("backup").Digest, ScheduledAt: at, NotBefore: at, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
		MaxAttempts: 1, Concurrency: jobs.ConcurrencyAllow, DepsPending: true}}}))[0]
	c := must(storetest.ClaimOne(ctx, st, storage.ClaimParams{RunID: up.ID, Job: "backup", Digest: up.Digest, Node: "n1", Now: at, LeaseUntil: at.Add(time.Minute)}))
	must(st.Finish(ctx, storage.FinishParams{RunID: c.ID, Attempt: 1, Node: "n1", Status: jobs.StatusSucceeded, FinishedAt: at}))
	dep := must(st.ResolveDeps(ctx, storage.DepsParams{Epoch: epoch, Now: at, Dependents: cfg.Dependents, Job: cfg.Job}))
	if len(dep) != 1 {
		t.Fatalf("ResolveDeps queued %d runs", len(dep))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(cfgPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cli("runs", "show", id(dep[0].ID), "--store", url, "--config", cfgPath)
	if r.code != 0 || !regexp.MustCompile(`(?m)^trigger +dependency$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^upstream runs +`+id(up.ID)+`$`).MatchString(r.stdout) {
		t.Errorf("runs show of the dependent: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cli("runs", "show", id(up.ID), "--store", url, "--config", cfgPath)
	if r.code != 0 || !regexp.MustCompile(`(?m)^downstream runs +`+id(dep[0].ID)+`$`).MatchString(r.stdout) {
		t.Errorf("runs show of the upstream: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
