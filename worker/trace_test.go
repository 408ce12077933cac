package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tock-sched/tock/internal/runtrace"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/storage"
)

// tracedRow inserts a queued run of job carrying traceparent tp, as a
// tracing leader writes it, and rings its doorbell.
func (r *rig) tracedRow(job string, at time.Time, tp string) jobs.Run {
	r.t.Helper()
	j := r.cfg.Job(job)
	runs, err := r.store.Dispatch(context.Background(), storage.DispatchParams{Epoch: r.epoch, Now: r.clk.Now(), Runs: []storage.NewRun{{
		Job: j.Name, Digest: j.Digest, ScheduledAt: at, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
		MaxAttempts: j.MaxAttempts(), NotBefore: r.clk.Now(), Concurrency: j.Concurrency, Traceparent: tp,
	}}})
	if err != nil || len(runs) != 1 {
		r.t.Fatalf("dispatch: %v %v", runs, err)
	}
	if err := r.queue.Push(context.Background(), storage.QueueItem{RunID: runs[0].ID, Job: job, Digest: j.Digest}); err != nil {
		r.t.Fatal(err)
	}
	return runs[0]
}

// recordingExec is fakeExec noting the traceparent each attempt got.
type recordingExec struct {
	mu  sync.Mutex
	got map[int]string // attempt → traceparent
}

func (e *recordingExec) exec(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result {
	e.mu.Lock()
	e.got[o.Fence.Attempt] = o.Traceparent
	e.mu.Unlock()
	return fakeExec(ctx, j, o)
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, a := range s.Attributes() {
		if a.Key == k {
			return a.Value.Emit()
		}
	}
	return ""
}

// TestTraceSpans: each attempt of a run is a claim → attempt → finish chain
// under the dispatch span its row carries, retries included, and the job
// gets the traceparent of its attempt span.
func TestTraceSpans(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("test")
	dctx, dispatch := tr.Start(context.Background(), runtrace.SpanDispatch)
	dispatch.End()

	rec := &recordingExec{got: map[int]string{}}
	r := newRigWith(t, testConfig, Options{Workers: 2, Exec: rec.exec, Tracer: tr})
	run := r.tracedRow("flaky", t0, runtrace.Traceparent(dctx))
	r.wait(r.finished, "finished")
	r.clk.Advance(10 * time.Second)
	r.queue.Push(context.Background(), storage.QueueItem{RunID: run.ID, Job: "flaky", Digest: run.Digest})
	r.wait(r.finished, "finished")

	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range exp.GetSpans().Snapshots() {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	claims, attempts, finishes := byName[runtrace.SpanClaim], byName[runtrace.SpanAttempt], byName[runtrace.SpanFinish]
	if len(claims) != 2 || len(attempts) != 2 || len(finishes) != 2 {
		t.Fatalf("spans %d claim, %d attempt, %d finish; want 2 of each", len(claims), len(attempts), len(finishes))
	}
	want := dispatch.SpanContext()
	for i := range 2 {
		c, a, f := claims[i], attempts[i], finishes[i]
		n := i + 1
		if c.Parent().SpanID() != want.SpanID() || c.SpanContext().TraceID() != want.TraceID() {
			t.Errorf("claim %d: parent %s in trace %s, want the dispatch span %s", n, c.Parent().SpanID(), c.SpanContext().TraceID(), want.SpanID())
		}
		if a.Parent().SpanID() != c.SpanContext().SpanID() || f.Parent().SpanID() != a.SpanContext().SpanID() {
			t.Errorf("attempt %d: attempt's parent %s, finish's %s; want claim %s, attempt %s", n, a.Parent().SpanID(), f.Parent().SpanID(),
				c.SpanContext().SpanID(), a.SpanContext().SpanID())
		}
		for _, s := range []sdktrace.ReadOnlySpan{c, a, f} {
			if attr(s, runtrace.KeyRunID) != itoa(run.ID) || attr(s, runtrace.KeyAttempt) != itoa(int64(n)) || attr(s, runtrace.KeyNode) != "w1" ||
				attr(s, runtrace.KeyEpoch) != itoa(r.epoch) || attr(s, runtrace.KeyJob) != "flaky" || attr(s, runtrace.KeyTick) == "" {
				t.Errorf("%s of attempt %d: attributes %v", s.Name(), n, s.Attributes())
			}
		}
		if attr(c, runtrace.KeyClaimVia) != "queue" {
			t.Errorf("claim %d: via %q", n, attr(c, runtrace.KeyClaimVia))
		}
		if attr(a, runtrace.KeyStatus) != "failed" || attr(a, runtrace.KeyExitCode) != "1" || a.Status().Description != "exit status 1" {
			t.Errorf("attempt %d: status %q exit %q (%v)", n, attr(a, runtrace.KeyStatus), attr(a, runtrace.KeyExitCode), a.Status())
		}
		wantRun := map[int]string{1: "queued", 2: "failed"}[n]
		if attr(f, runtrace.KeyRunStatus) != wantRun {
			t.Errorf("finish %d: run status %q, want %s", n, attr(f, runtrace.KeyRunStatus), wantRun)
		}
		tpA := "00-" + a.SpanContext().TraceID().String() + "-" + a.SpanContext().SpanID().String() + "-01"
		rec.mu.Lock()
		if rec.got[n] != tpA {
			t.Errorf("attempt %d: the job got traceparent %q, want its attempt span's %q", n, rec.got[n], tpA)
		}
		rec.mu.Unlock()
	}
}

// TestNoTracerNoTraceparent: a pool without a tracer passes no
// traceparent to the job, even for a run a tracing leader dispatched.
func TestNoTracerNoTraceparent(t *testing.T) {
	t.Parallel()
	rec := &recordingExec{got: map[int]string{}}
	r := newRigWith(t, testConfig, Options{Workers: 2, Exec: rec.exec})
	r.tracedRow("ok", t0, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	r.wait(r.finished, "finished")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if tp, ok := rec.got[1]; !ok || tp != "" {
		t.Errorf("the job got traceparent %q (ran: %v), want none", tp, ok)
	}
}

func itoa(n int64) string { return attribute.Int64Value(n).Emit() }
