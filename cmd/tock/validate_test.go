package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
