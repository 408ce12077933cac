package scheduler

import (
	"context"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tock-sched/tock/internal/runtrace"
	"github.com/tock-sched/tock/jobs"
)

// dispatchSpans are the dispatch spans of one flush, by the traceparent
// each wrote on its row; nil when the scheduler does not trace.
type dispatchSpans map[string]trace.Span

// traceDispatch starts a dispatch span for each row of the batch and sets
// the row's Traceparent, so that the span context is stored in the same
// INSERT (the claim hands it to whichever replica runs the run). Without a
// tracer it does nothing: no span, and a NULL traceparent column.
func (t *term) traceDispatch(ctx context.Context) dispatchSpans {
	tr := t.s.opts.Tracer
	if tr == nil || len(t.batch) == 0 {
		return nil
	}
	spans := make(dispatchSpans, len(t.batch))
	for i := range t.batch {
		r := &t.batch[i]
		// Each run's trace is its own: dispatch spans are roots.
		sctx, span := tr.Start(ctx, runtrace.SpanDispatch, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(runtrace.KeyJob.String(r.Job), runtrace.Tick(r.ScheduledAt), runtrace.KeyNode.String(t.s.opts.Node),
				runtrace.KeyEpoch.Int64(t.epoch), runtrace.KeyTrigger.String(string(r.Trigger)), runtrace.KeyStatus.String(string(r.Status))))
		r.Traceparent = runtrace.Traceparent(sctx)
		spans[r.Traceparent] = span
	}
	return spans
}

// dispatched records the outcome of the flush on its spans: the id of each
// queued run (every shard of a broadcast names the same span), or the
// error. A queued row the store did not return was already in history (I1).
func (spans dispatchSpans) dispatched(queued []jobs.Run, err error) {
	if spans == nil {
		return
	}
	if err != nil {
		for _, span := range spans {
			span.RecordError(err)
			span.SetStatus(codes.Error, "dispatch failed")
		}
		return
	}
	for _, r := range queued {
		if span, ok := spans[r.Traceparent]; ok {
			span.SetAttributes(runtrace.KeyRunID.Int64(r.ID))
		}
	}
}

// end ends the spans, once the doorbells rang.
func (spans dispatchSpans) end() {
	for _, span := range spans {
		span.End()
	}
}
