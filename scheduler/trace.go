package scheduler

import (
	"context"
	"sync"

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

// promoteSpans are the dispatch spans of the runs one promotion queues
// (manual triggers, backfills): the leader dispatches them by promoting
// their rows, so their traces start there as a scheduled run's does.
type promoteSpans struct {
	t   *term
	ctx context.Context

	mu     sync.Mutex
	byRun  map[int64]trace.Span
	closed bool
}

// tracePromote returns the spans of a promotion about to run, nil when the
// scheduler does not trace.
func (t *term) tracePromote(ctx context.Context) *promoteSpans {
	if t.s.opts.Tracer == nil {
		return nil
	}
	return &promoteSpans{t: t, ctx: ctx, byRun: map[int64]trace.Span{}}
}

// traceparent is storage.PromoteParams.Traceparent: it starts the run's
// dispatch span, once per run however often a retried transaction asks,
// and none once the promotion is over (a store call that outlived its
// timeout).
func (p *promoteSpans) traceparent(run jobs.Run) string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ""
	}
	if span, ok := p.byRun[run.ID]; ok {
		return runtrace.Traceparent(trace.ContextWithSpan(p.ctx, span))
	}
	t := p.t
	sctx, span := t.s.opts.Tracer.Start(p.ctx, runtrace.SpanDispatch, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(runtrace.KeyJob.String(run.Job), runtrace.Tick(run.ScheduledAt), runtrace.KeyNode.String(t.s.opts.Node),
			runtrace.KeyEpoch.Int64(t.epoch), runtrace.KeyTrigger.String(string(run.Trigger)),
			runtrace.KeyStatus.String(string(jobs.StatusQueued)), runtrace.KeyRunID.Int64(run.ID)))
	p.byRun[run.ID] = span
	return runtrace.Traceparent(sctx)
}

// params returns the Traceparent hook for PromoteParams: nil without spans.
func (p *promoteSpans) params() func(jobs.Run) string {
	if p == nil {
		return nil
	}
	return p.traceparent
}

// end ends the spans once the promotion is over: those of runs it queued
// as they are, the others (a transaction that did not commit) with its
// error.
func (p *promoteSpans) end(promoted []jobs.Run, err error) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	queued := make(map[int64]bool, len(promoted))
	for _, r := range promoted {
		queued[r.ID] = true
	}
	for id, span := range p.byRun {
		if !queued[id] && err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "promotion failed")
		}
		span.End()
	}
}
