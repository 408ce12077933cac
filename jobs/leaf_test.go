package jobs_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tock-sched/tock"

// loaderAndExecutorImports are what package jobfile (yaml.v3) and package
// executor (net/http, os/exec, os/signal) need and the job model must not
// drag into every package that imports it.
var loaderAndExecutorImports = []string{
	"gopkg.in/yaml.v3", "net/http", "net/http/httputil", "os/exec", "os/signal",
}

// TestJobsIsALeaf keeps jobs a leaf (doc.go): the standard library's basics
// and robfig/cron/v3, nothing else, and no syscall of its own.
func TestJobsIsALeaf(t *testing.T) {
	t.Parallel()
	g := listDeps(t, module+"/jobs")
	for _, p := range loaderAndExecutorImports {
		if chain := g.chain(p, nil); chain != nil {
			t.Errorf("jobs imports %s: %s", p, strings.Join(chain, " → "))
		}
	}
	for path, pkg := range g {
		if !pkg.std && path != module+"/jobs" && path != "github.com/robfig/cron/v3" {
			t.Errorf("jobs depends on %s: %s", path, strings.Join(g.chain(path, nil), " → "))
		}
	}
	for _, imp := range g[module+"/jobs"].imports {
		if imp == "syscall" {
			t.Error("jobs imports syscall")
		}
	}
}

// TestStorageDoesNotImportLoaderOrExecutors: storage speaks jobs.Run and
// jobs.Attempt and must not pull in the YAML loader or the executors with
// them. yaml.v3 and net/http must not appear at all. os/exec and os/signal
// must not be reached through tock's packages and the standard library;
// a driver may use them inside (modernc.org/libc, under storage/sqlite,
// imports both), and so may the packages that only tests import.
func TestStorageDoesNotImportLoaderOrExecutors(t *testing.T) {
	t.Parallel()
	g := listDeps(t, module+"/storage/...")
	for _, p := range loaderAndExecutorImports {
		var through func(string) bool
		gp := g
		if p == "os/exec" || p == "os/signal" {
			through = func(path string) bool { return g[path].std || isModule(path) }
			// Test helper packages (storetest, mysqltest, redistest…) may
			// start processes: redistest starts redis-server for the
			// Sentinel tests. Production code never imports them.
			gp = g.withoutRoots(func(path string) bool { return strings.HasSuffix(path, "test") })
		}
		if chain := gp.chain(p, through); chain != nil {
			t.Errorf("storage imports %s: %s", p, strings.Join(chain, " → "))
		}
	}
}

// depGraph is the output of go list -deps: every package by import path.
type depGraph map[string]listedPackage

type listedPackage struct {
	std     bool
	root    bool // matched by the pattern, not only a dependency
	imports []string
}

// listDeps runs go list -deps on pattern. go test puts its own GOROOT/bin
// first on PATH, so this is the go that builds the test.
func listDeps(t *testing.T, pattern string) depGraph {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	cmd := exec.Command(gobin, "list", "-deps",
		"-f", `{{.ImportPath}} {{.Standard}} {{not .DepOnly}}{{range .Imports}} {{.}}{{end}}`, pattern)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pattern, err, stderr.String())
	}
	g := depGraph{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Fatalf("go list -deps %s: unexpected line %q", pattern, line)
		}
		g[f[0]] = listedPackage{std: f[1] == "true", root: f[2] == "true", imports: f[3:]}
	}
	if len(g) == 0 {
		t.Fatalf("go list -deps %s listed nothing", pattern)
	}
	return g
}

// chain returns the shortest import chain from a root package to target,
// or nil if there is none. When through is not nil, the chain may only pass
// through packages it accepts.
func (g depGraph) chain(target string, through func(string) bool) []string {
	if _, ok := g[target]; !ok {
		return nil
	}
	prev := map[string]string{}
	var queue []string
	for path, pkg := range g {
		if pkg.root {
			prev[path] = ""
			queue = append(queue, path)
		}
	}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if path == target {
			var chain []string
			for p := path; p != ""; p = prev[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		if through != nil && !through(path) {
			continue
		}
		for _, imp := range g[path].imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = path
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

// withoutRoots returns a copy of g in which the roots drop accepts are
// dependencies only.
func (g depGraph) withoutRoots(drop func(string) bool) depGraph {
	out := make(depGraph, len(g))
	for path, pkg := range g {
		if pkg.root && drop(path) {
			pkg.root = false
		}
		out[path] = pkg
	}
	return out
}

func isModule(path string) bool {
	return path == module || strings.HasPrefix(path, module+"/")
}
