package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/sqlite"
	"github.com/tock-sched/tock/storage/storetest"
)

func open(t *testing.T, url string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), url, sqlite.Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSuite(t *testing.T) {
	t.Parallel()
	storetest.RunSuite(t, func(t *testing.T) storage.Store {
		return open(t, "sqlite:"+filepath.Join(t.TempDir(), "tock.db"))
	})
}

func TestSuiteInMemory(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the file-backed suite covers the queries")
	}
	storetest.RunSuite(t, func(t *testing.T) storage.Store { return open(t, "sqlite::memory:") })
}

func TestOpenURLs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for url, file := range map[string]string{
		"sqlite:" + filepath.Join(dir, "a.db"):              "a.db",
		"sqlite://" + filepath.Join(dir, "b.db"):            "b.db",
		"sqlite:" + filepath.Join(dir, "odd ?#%20 name.db"): "odd ?#%20 name.db",
		"sqlite::memory:": "",
	} {
		s := open(t, url)
		if file != "" {
			if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
				t.Fatalf("Open(%s) did not create %s: %v", url, file, err)
			}
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate(%s): %v", url, err)
		}
		cur, latest, err := s.SchemaVersion(t.Context())
		if err != nil || cur != latest || cur < 1 {
			t.Fatalf("SchemaVersion(%s) = (%d, %d, %v), want current = latest >= 1", url, cur, latest, err)
		}
	}
	for _, url := range []string{"sqlite:", "sqlite://", "mysql://x/y", "tock.db"} {
		if s, err := sqlite.Open(t.Context(), url, sqlite.Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", url)
		}
	}
}

// TestTwoProcesses opens one file twice, as two processes would, and runs
// writes from both at once: the busy timeout and IMMEDIATE transactions
// must keep SQLITE_BUSY from reaching the caller.
func TestTwoProcesses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := "sqlite:" + filepath.Join(t.TempDir(), "tock.db")
	a, b := open(t, url), open(t, url)
	var wg sync.WaitGroup
	for _, s := range []*sqlite.Store{a, b} {
		wg.Go(func() {
			if err := s.Migrate(ctx); err != nil {
				t.Errorf("Migrate: %v", err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	epoch, err := a.BumpEpoch(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var runs []storage.NewRun
	for i := range 200 {
		runs = append(runs, storage.NewRun{Job: fmt.Sprintf("j%d", i%10), Digest: "d", ScheduledAt: t0.Add(time.Duration(i) * time.Second),
			Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: t0})
	}
	got := make([][]jobs.Run, 2)
	for i, s := range []*sqlite.Store{a, b} {
		wg.Go(func() {
			var err error
			if got[i], err = s.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: t0, Runs: runs}); err != nil {
				t.Errorf("Dispatch: %v", err)
			}
		})
	}
	wg.Wait()
	if n := len(got[0]) + len(got[1]); !t.Failed() && n != len(runs) {
		t.Fatalf("two processes dispatched %d runs in all, want %d", n, len(runs))
	}
	claimed := make([]int, 2)
	for i, s := range []*sqlite.Store{a, b} {
		wg.Go(func() {
			for _, r := range append(got[0], got[1]...) {
				_, err := storetest.ClaimOne(ctx, s, storage.ClaimParams{RunID: r.ID, Job: r.Job, Digest: "d", Node: fmt.Sprint(i), Now: t0, LeaseUntil: t0.Add(time.Minute)})
				switch {
				case err == nil:
					claimed[i]++
				case !errors.Is(err, storage.ErrNotClaimed):
					t.Errorf("ClaimOne: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := claimed[0] + claimed[1]; !t.Failed() && n != len(runs) {
		t.Fatalf("two processes claimed %d runs in all, want %d", n, len(runs))
	}
}

// Several processes migrating one file at once take turns (the CLI opening
// --store while tock run starts): every Migrate succeeds. Stores opened
// separately stand in for the processes: each holds its own lock file
// description, as another process would.
func TestConcurrentMigrateOneFile(t *testing.T) {
	t.Parallel()
	for round := range 10 {
		url := "sqlite:" + filepath.Join(t.TempDir(), fmt.Sprintf("tock-%d.db", round))
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i) * 3 * time.Millisecond)
				st, err := sqlite.Open(context.Background(), url, sqlite.Options{})
				if err != nil {
					errs <- err
					return
				}
				defer st.Close()
				errs <- st.Migrate(context.Background())
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
