package replica

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
)

const reloadV1 = "jobs:\n  - {name: a, schedule: \"* * * * *\", command: [\"true\"]}\n"
const reloadV2 = reloadV1 + "  - {name: b, schedule: \"* * * * *\", command: [\"true\"]}\n"
const reloadBad = reloadV2 + "  - {name: c, schedule: \"nope\", command: [\"true\"]}\n"

// TestReloaderFileChangeAndSIGHUP: a changed file is applied; an invalid one
// keeps the old config and its error is kept; SIGHUP reloads too.
func TestReloaderFileChangeAndSIGHUP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(path, []byte(reloadV1), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		cfg *jobs.Config
		err error
	}
	results := make(chan result, 10)
	var mu sync.Mutex
	var applied []*jobs.Config
	r := NewReloader(path, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), func(c *jobs.Config) {
		mu.Lock()
		applied = append(applied, c)
		mu.Unlock()
	})
	r.Reloaded = func(c *jobs.Config, err error) { results <- result{c, err} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	next := func(trigger func()) result {
		t.Helper()
		for deadline := time.After(10 * time.Second); ; {
			trigger()
			select {
			case res := <-results:
				return res
			case <-time.After(time.Second): // the watcher may not be armed yet: write again
			case <-deadline:
				t.Fatal("no reload")
			}
		}
	}
	write := func(s string) func() {
		return func() {
			if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	if res := next(write(reloadV2)); res.err != nil || len(res.cfg.Jobs) != 2 {
		t.Fatalf("valid change: %+v", res)
	}
	res := next(write(reloadBad))
	if res.err == nil {
		t.Fatal("invalid file accepted")
	}
	if err, failures := r.LastError(); err == nil || failures != 1 {
		t.Fatalf("LastError = %v, %d", err, failures)
	}
	if cur := r.Current(); cur == nil || len(cur.Jobs) != 2 {
		t.Fatalf("invalid file replaced the config in force")
	}
	if err := os.WriteFile(path, []byte(reloadV1), 0o644); err != nil {
		t.Fatal(err)
	}
	// Drain the file event of that write, then SIGHUP must reload alone.
	next(func() {})
	res = next(func() { syscall.Kill(os.Getpid(), syscall.SIGHUP) })
	if res.err != nil || len(res.cfg.Jobs) != 1 {
		t.Fatalf("SIGHUP reload: %+v", res)
	}
	if err, _ := r.LastError(); err != nil {
		t.Fatalf("LastError after a good reload = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(applied) < 2 {
		t.Fatalf("applied %d configs, want the valid ones", len(applied))
	}
}

// A reload of the same bytes parses and applies nothing; other bytes are
// applied again.
func TestReloaderSkipsUnchangedFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tock.yaml")
	if err := os.WriteFile(path, []byte(reloadV1), 0o644); err != nil {
		t.Fatal(err)
	}
	applied := 0
	r := NewReloader(path, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), func(*jobs.Config) { applied++ })
	r.Reload()
	r.Reload()
	if applied != 1 {
		t.Fatalf("two reloads of one file applied %d configs, want 1", applied)
	}
	if err := os.WriteFile(path, []byte(reloadV2), 0o644); err != nil {
		t.Fatal(err)
	}
	r.Reload()
	if applied != 2 || len(r.Current().Jobs) != 2 {
		t.Fatalf("a changed file: applied %d configs, %d jobs in force", applied, len(r.Current().Jobs))
	}
	// A file that failed is read again even if it is unchanged since the
	// last good one: the error must clear once it is fixed.
	if err := os.WriteFile(path, []byte(reloadBad), 0o644); err != nil {
		t.Fatal(err)
	}
	r.Reload()
	if err, _ := r.LastError(); err == nil {
		t.Fatal("invalid file accepted")
	}
	if err := os.WriteFile(path, []byte(reloadV2), 0o644); err != nil {
		t.Fatal(err)
	}
	r.Reload()
	if err, _ := r.LastError(); err != nil || applied != 3 {
		t.Fatalf("after fixing the file: LastError %v, applied %d, want nil and 3", err, applied)
	}
}
