package scheduler

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tock-sched/tock/internal/runtrace"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// tracedRig is a scheduler rig whose scheduler traces into an in-memory
// exporter.
func tracedRig(t *testing.T) (*rig, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	r := newRig(t, everyMinute)
	r.s.opts.Tracer = tp.Tracer("test")
	return r, exp
}

// spanTraceparent is the W3C traceparent of a sampled span.
func spanTraceparent(s sdktrace.ReadOnlySpan) string {
	return "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"
}

// spanAttrs are a span's attributes as strings.
func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
	got := map[attribute.Key]string{}
	for _, a := range s.Attributes() {
		got[a.Key] = a.Value.Emit()
	}
	return got
}

// TestDispatchSpans: with a tracer, each run the leader writes has a root
// dispatch span naming the job, tick, epoch and node, the run's id once
// its row exists, and the row stores that span's traceparent.
func TestDispatchSpans(t *testing.T) {
	t.Parallel()
	r, exp := tracedRig(t)
	epoch := r.start()
	r.step(2 * time.Minute) // a at 12:01 and 12:02, b at 12:02
	r.waitQueued(3)

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() != runtrace.SpanDispatch {
			t.Errorf("span %q, want only dispatch spans", s.Name())
			continue
		}
		spans[spanTraceparent(s)] = s
	}
	runs := r.runs(storage.RunFilter{})
	if len(runs) != 3 || len(spans) != 3 {
		t.Fatalf("%d runs, %d dispatch spans; want 3 of each", len(runs), len(spans))
	}
	for _, run := range runs {
		s, ok := spans[run.Traceparent]
		if !ok {
			t.Errorf("run %d stores traceparent %q, no dispatch span's", run.ID, run.Traceparent)
			continue
		}
		if s.Parent().IsValid() {
			t.Errorf("run %d: dispatch span has a parent", run.ID)
		}
		want := map[attribute.Key]string{
			runtrace.KeyJob: run.Job, runtrace.KeyTick: run.ScheduledAt.UTC().Format(time.RFC3339Nano),
			runtrace.KeyEpoch: strconv.FormatInt(epoch, 10), runtrace.KeyNode: "n1", runtrace.KeyStatus: "queued",
			runtrace.KeyRunID: strconv.FormatInt(run.ID, 10), runtrace.KeyTrigger: "schedule",
		}
		got := spanAttrs(s)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("run %d: dispatch span %s = %q, want %q", run.ID, k, got[k], v)
			}
		}
	}
}

// TestDispatchWithoutTracer: without a tracer no row gets a traceparent.
func TestDispatchWithoutTracer(t *testing.T) {
	t.Parallel()
	r := newRig(t, everyMinute)
	r.start()
	r.step(2 * time.Minute)
	r.waitQueued(3)
	for _, run := range r.runs(storage.RunFilter{}) {
		if run.Traceparent != "" {
			t.Errorf("run %d: traceparent %q, want none", run.ID, run.Traceparent)
		}
	}
}

// TestPromotedRunsGetDispatchSpans: a manual trigger is dispatched by the
// leader's promotion; with a tracer that promotion starts the run's root
// dispatch span (trigger manual, the run's id) and stores its traceparent
// on the row, so the claim continues the same trace as for a scheduled run.
func TestPromotedRunsGetDispatchSpans(t *testing.T) {
	t.Parallel()
	r, exp := tracedRig(t)
	epoch := r.start()
	<-r.loaded
	run, err := r.store.Trigger(context.Background(), "a", r.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.s.Wake()
	var got jobs.Run
	for deadline := time.Now().Add(10 * time.Second); ; {
		if got, _, err = r.store.GetRun(context.Background(), run.ID); err != nil {
			t.Fatal(err)
		}
		if got.Status == jobs.StatusQueued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("manual trigger not promoted: %+v", got)
		}
		time.Sleep(10 * time.Millisecond) // waiting on another goroutine's store write, not on time
	}
	var dispatch []sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(10 * time.Second); len(dispatch) == 0; {
		for _, s := range exp.GetSpans().Snapshots() {
			if s.Name() == runtrace.SpanDispatch {
				dispatch = append(dispatch, s)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no dispatch span ended for the promoted run")
		}
		time.Sleep(10 * time.Millisecond) // the span ends once the doorbell rang, on the dispatch loop
	}
	if len(dispatch) != 1 {
		t.Fatalf("%d dispatch spans, want the promoted run's only", len(dispatch))
	}
	s := dispatch[0]
	want := spanTraceparent(s)
	if got.Traceparent != want || s.Parent().IsValid() {
		t.Fatalf("run stores traceparent %q, the root dispatch span is %q (parent valid: %v)", got.Traceparent, want, s.Parent().IsValid())
	}
	attrs := spanAttrs(s)
	for k, v := range map[attribute.Key]string{runtrace.KeyJob: "a", runtrace.KeyTrigger: "manual",
		runtrace.KeyRunID: strconv.FormatInt(run.ID, 10), runtrace.KeyEpoch: strconv.FormatInt(epoch, 10), runtrace.KeyNode: "n1"} {
		if attrs[k] != v {
			t.Errorf("dispatch span %s = %q, want %q", k, attrs[k], v)
		}
	}
}
