package storetest

import (
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var outputCases = []testCase{
	{"FlushOutput", testFlushOutput},
	{"FlushOutputFinish", testFlushOutputFinish},
	{"FlushOutputKeptByReaper", testFlushOutputReaped},
}

// testFlushOutput: live output is stored only for the attempt running on
// the caller's node, replaced in place, shown by GetRun as the running
// attempt's output, and stored with a heartbeat in its transaction.
func testFlushOutput(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	r := claim(t, s, queue(t, s, e, nr("a", t0)), "n1", t0, t0.Add(time.Minute))
	flush := func(attempt int, node, out string, dropped int64) error {
		return s.FlushOutput(ctx, storage.OutputParams{RunID: r.ID, Attempt: attempt, Node: node,
			LiveOutput: storage.LiveOutput{Output: out, Dropped: dropped}})
	}
	if _, atts := get(t, s, r.ID); atts[0].Output != "" {
		t.Fatalf("output before any flush = %q, want none", atts[0].Output)
	}
	for _, out := range []string{"line 1\n", "line 1\nline 2 ✓\n", "line 1\nline 2 ✓\n"} {
		if err := flush(1, "n1", out, 0); err != nil {
			t.Fatalf("FlushOutput(%q): %v", out, err)
		}
		if _, atts := get(t, s, r.ID); atts[0].Output != out || atts[0].Status != jobs.StatusRunning {
			t.Fatalf("after FlushOutput(%q): attempt %+v", out, atts[0])
		}
	}
	wantErr(t, "FlushOutput from another node", flush(1, "n2", "forged", 0), storage.ErrLeaseLost)
	wantErr(t, "FlushOutput of another attempt", flush(2, "n1", "forged", 0), storage.ErrLeaseLost)
	wantErr(t, "FlushOutput of an unknown run", s.FlushOutput(ctx, storage.OutputParams{RunID: r.ID + 1000, Attempt: 1, Node: "n1"}),
		storage.ErrLeaseLost)
	cut := "head" + jobs.DroppedMarker(7) + "tail"
	if _, err := s.Heartbeat(ctx, storage.HeartbeatParams{RunID: r.ID, Attempt: 1, Node: "n1", LeaseUntil: t0.Add(2 * time.Minute),
		Output: &storage.LiveOutput{Output: cut, Dropped: 7}}); err != nil {
		t.Fatal(err)
	}
	_, atts := get(t, s, r.ID)
	if a := atts[0]; a.Output != cut || a.OutputDropped != 7 || !a.LeaseUntil.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("after a heartbeat with output: attempt %+v", a)
	}
	// A heartbeat refused leaves the output as it was.
	_, err := s.Heartbeat(ctx, storage.HeartbeatParams{RunID: r.ID, Attempt: 1, Node: "n2", LeaseUntil: t0.Add(3 * time.Minute),
		Output: &storage.LiveOutput{Output: "forged"}})
	wantErr(t, "Heartbeat with output from another node", err, storage.ErrLeaseLost)
	if _, atts := get(t, s, r.ID); atts[0].Output != cut {
		t.Fatalf("after a refused heartbeat: output %q, want %q", atts[0].Output, cut)
	}
}

// testFlushOutputFinish: the final output replaces the live one, with or
// without Flushed; no flush is taken after the attempt ended; a retry's
// next attempt starts with no output.
func testFlushOutputFinish(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	lease := t0.Add(time.Minute)
	r := claim(t, s, queue(t, s, e, with(nr("a", t0), func(r *storage.NewRun) { r.MaxAttempts = 2 })), "n1", t0, lease)
	if err := s.FlushOutput(ctx, storage.OutputParams{RunID: r.ID, Attempt: 1, Node: "n1", LiveOutput: storage.LiveOutput{Output: "so far\n"}}); err != nil {
		t.Fatal(err)
	}
	retryAt := t0.Add(time.Second)
	if _, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 1, Node: "n1", Status: jobs.StatusFailed, FinishedAt: t0,
		ExitCode: pint(1), Output: "so far\nthe end\n", Flushed: true, RetryAt: &retryAt}); err != nil {
		t.Fatal(err)
	}
	err := s.FlushOutput(ctx, storage.OutputParams{RunID: r.ID, Attempt: 1, Node: "n1", LiveOutput: storage.LiveOutput{Output: "late"}})
	wantErr(t, "FlushOutput after Finish", err, storage.ErrLeaseLost)
	r2 := claim(t, s, r, "n2", retryAt, retryAt.Add(time.Minute))
	_, atts := get(t, s, r.ID)
	if len(atts) != 2 || atts[0].Output != "so far\nthe end\n" || atts[1].Output != "" || atts[1].Number != r2.Attempt {
		t.Fatalf("attempts after a retry = %+v, want the final output on 1 and none on 2", atts)
	}
	if err := s.FlushOutput(ctx, storage.OutputParams{RunID: r.ID, Attempt: 2, Node: "n2", LiveOutput: storage.LiveOutput{Output: "two\n"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: 2, Node: "n2", Status: jobs.StatusSucceeded, FinishedAt: retryAt,
		ExitCode: pint(0), Output: "two\ndone\n", Flushed: true}); err != nil {
		t.Fatal(err)
	}
	if _, atts := get(t, s, r.ID); atts[1].Output != "two\ndone\n" || atts[1].Status != jobs.StatusSucceeded {
		t.Fatalf("attempt 2 = %+v, want the final output", atts[1])
	}
}

// testFlushOutputReaped: the output an attempt flushed before its node
// died stays in history as the lost attempt's, by the reaper and by the
// node's own recovery.
func testFlushOutputReaped(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	lease := t0.Add(time.Minute)
	reaped := claim(t, s, queue(t, s, e, nr("reaped", t0)), "n1", t0, lease)
	retried := claim(t, s, queue(t, s, e, with(nr("retried", t0), func(r *storage.NewRun) { r.MaxAttempts = 2 })), "n1", t0, lease)
	quiet := claim(t, s, queue(t, s, e, nr("quiet", t0)), "n1", t0, lease)
	recovered := claim(t, s, queue(t, s, e, nr("recovered", t0)), "n2", t0, lease.Add(time.Hour))
	cut := "head" + jobs.DroppedMarker(99) + "tail"
	for _, f := range []storage.OutputParams{
		{RunID: reaped.ID, Attempt: 1, Node: "n1", LiveOutput: storage.LiveOutput{Output: cut, Dropped: 99}},
		{RunID: retried.ID, Attempt: 1, Node: "n1", LiveOutput: storage.LiveOutput{Output: "retried so far\n"}},
		{RunID: recovered.ID, Attempt: 1, Node: "n2", LiveOutput: storage.LiveOutput{Output: "recovered so far\n"}},
	} {
		if err := s.FlushOutput(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ReapExpired(ctx, storage.ReapParams{Epoch: e, Now: lease.Add(time.Second)})
	if err != nil || len(got) != 3 {
		t.Fatalf("ReapExpired = (%d runs, %v), want 3", len(got), err)
	}
	if _, err := s.RecoverNode(ctx, "n2", lease); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		run     jobs.Run
		output  string
		dropped int64
	}{{reaped, cut, 99}, {retried, "retried so far\n", 0}, {quiet, "", 0}, {recovered, "recovered so far\n", 0}} {
		_, atts := get(t, s, c.run.ID)
		if len(atts) != 1 || atts[0].Status != jobs.StatusLost || atts[0].Output != c.output || atts[0].OutputDropped != c.dropped {
			t.Errorf("run %s: attempts %+v, want one lost with output %q (%d dropped)", c.run.Job, atts, c.output, c.dropped)
		}
	}
	// The retry of the reaped run starts with no output of its own.
	r2 := claim(t, s, retried, "n2", lease.Add(time.Minute), lease.Add(2*time.Minute))
	if _, atts := get(t, s, retried.ID); len(atts) != 2 || atts[1].Number != r2.Attempt || atts[1].Output != "" {
		t.Fatalf("attempts of the retried run = %+v", atts)
	}
}
