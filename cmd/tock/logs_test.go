package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/storetest"
)

// syncBuffer is a bytes.Buffer a test reads while the CLI writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `tock runs logs -f` without --attempt follows the run: an attempt that
// ends with a retry to come is followed by the next one once it starts,
// until the run ends.
func TestRunsLogsFollowsRetries(t *testing.T) {
	clearEnv(t)
	url, st := migratedStore(t, t.TempDir())
	defer st.Close()
	ctx := context.Background()
	epoch, err := st.BumpEpoch(ctx, "leader")
	if err != nil {
		t.Fatal(err)
	}
	now := apitest.Now
	runs, err := st.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: now, Runs: []storage.NewRun{{Job: "flaky", Digest: "d",
		ScheduledAt: now, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued, MaxAttempts: 2, NotBefore: now}}})
	if err != nil || len(runs) != 1 {
		t.Fatalf("Dispatch = %v, %v", runs, err)
	}
	run := runs[0]
	attempt := func(n int, out string, status jobs.RunStatus, retry bool) {
		t.Helper()
		c, err := storetest.ClaimOne(ctx, st, storage.ClaimParams{RunID: run.ID, Job: run.Job, Digest: run.Digest, Node: "n1",
			Now: now, LeaseUntil: now.Add(time.Hour)})
		if err != nil || c.Attempt != n {
			t.Fatalf("claim of attempt %d: %+v, %v", n, c, err)
		}
		fp := storage.FinishParams{RunID: run.ID, Attempt: n, Node: "n1", Status: status, FinishedAt: now, Output: out}
		if retry {
			fp.RetryAt = &now
		}
		if _, err := st.Finish(ctx, fp); err != nil {
			t.Fatalf("finishing attempt %d: %v", n, err)
		}
	}
	attempt(1, "first try\n", jobs.StatusFailed, true)

	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(newRoot(apitest.NowClock()), []string{"runs", "logs", "-f", id(run.ID), "--store", url}, &out, &errOut)
	}()
	// The follower has seen attempt 1 end with the run queued again.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(errOut.String(), "-- attempt 1 of run"); {
		if time.Now().After(deadline) {
			t.Fatalf("no end of attempt 1 followed: stdout %q, stderr %q", out.String(), errOut.String())
		}
		time.Sleep(10 * time.Millisecond) // waiting on the CLI's goroutine, not on time
	}
	attempt(2, "second try\n", jobs.StatusSucceeded, false)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the follower did not end with the run: stdout %q, stderr %q", out.String(), errOut.String())
	}
	if got := out.String(); got != "first try\nsecond try\n" {
		t.Errorf("stdout %q, want both attempts' output", got)
	}
	if got := errOut.String(); !strings.Contains(got, "-- attempt 1 of run") || !strings.Contains(got, " failed") ||
		!strings.HasSuffix(got, "-- attempt 2 of run "+id(run.ID)+" succeeded\n") {
		t.Errorf("stderr %q, want attempt 1 failed then attempt 2 succeeded", got)
	}

	// With --attempt the follow ends with that attempt.
	r := cli("runs", "logs", "-f", "--attempt", "1", id(run.ID), "--store", url)
	if r.code != 0 || r.stdout != "first try\n" || strings.Contains(r.stderr, "attempt 2") {
		t.Errorf("--attempt 1: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
