package worker

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tock-sched/tock/internal/runtrace"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

// Claim paths, the tock.claim.via attribute of claim spans.
const (
	claimViaQueue = "queue"
	claimViaPoll  = "poll"
)

// maxSpanError bounds the attempt error a span's status carries.
const maxSpanError = 256

// claimed records, when the pool traces, a claim span for each run claimed
// by one claim that was sent at began: a child of the run's dispatch span
// (the traceparent its row carries, whichever replica dispatched it and
// however many attempts ago), and the parent of the attempt, whose
// traceparent replaces the run's.
func (p *Pool) claimed(runs []jobs.Run, began time.Time, via string) {
	tr := p.opts.Tracer
	if tr == nil {
		return
	}
	for i := range runs {
		r := &runs[i]
		ctx, span := tr.Start(runtrace.Parent(context.Background(), r.Traceparent), runtrace.SpanClaim,
			trace.WithTimestamp(began), trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(append(runtrace.RunAttrs(*r, p.opts.Node),
				runtrace.KeyClaimVia.String(via), runtrace.KeyBatch.Int(len(runs)))...))
		r.Traceparent = runtrace.Traceparent(ctx)
		span.End()
	}
}

// attemptContext is the context of run's attempt: the pool's, with an
// attempt span under the run's claim span when the pool traces, and the
// traceparent of that span for the job (executor.Options.Traceparent);
// "" when the pool does not trace, so the job gets none.
func (p *Pool) attemptContext(run jobs.Run) (context.Context, string) {
	if p.opts.Tracer == nil {
		return p.runCtx, ""
	}
	ctx, _ := p.opts.Tracer.Start(runtrace.Parent(p.runCtx, run.Traceparent), runtrace.SpanAttempt,
		trace.WithAttributes(runtrace.RunAttrs(run, p.opts.Node)...))
	return ctx, runtrace.Traceparent(ctx)
}

// finishTrace is the attempt span and the span recording its result.
type finishTrace struct{ attempt, finish trace.Span }

// traceFinish starts the finish span under the attempt span of ctx; the
// zero finishTrace when the pool does not trace.
func (p *Pool) traceFinish(ctx context.Context, run jobs.Run) finishTrace {
	if p.opts.Tracer == nil {
		return finishTrace{}
	}
	_, span := p.opts.Tracer.Start(ctx, runtrace.SpanFinish, trace.WithAttributes(runtrace.RunAttrs(run, p.opts.Node)...))
	return finishTrace{attempt: trace.SpanFromContext(ctx), finish: span}
}

// end ends both spans: the finish span with the run's status after the
// result was recorded (or the error recording it), the attempt span with
// the attempt's.
func (f finishTrace) end(res executor.Result, final jobs.Run, err error) {
	if f.finish == nil {
		return
	}
	if err != nil {
		f.finish.RecordError(err)
		f.finish.SetStatus(codes.Error, "result not recorded")
	} else {
		f.finish.SetAttributes(runtrace.KeyRunStatus.String(string(final.Status)))
	}
	f.finish.End()
	endAttemptSpan(f.attempt, res)
}

// attemptLost ends the attempt span in ctx of an attempt the reaper took
// away: its result is not recorded, so there is no finish span.
func attemptLost(ctx context.Context, res executor.Result) {
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(runtrace.KeyRunStatus.String(string(jobs.StatusLost)))
	endAttemptSpan(span, res)
}

func endAttemptSpan(span trace.Span, res executor.Result) {
	span.SetAttributes(runtrace.KeyStatus.String(string(res.Status)))
	if res.ExitCode != nil {
		span.SetAttributes(runtrace.KeyExitCode.Int(*res.ExitCode))
	}
	if res.Status != jobs.StatusSucceeded {
		msg := res.Error
		if len(msg) > maxSpanError {
			msg = strings.ToValidUTF8(msg[:maxSpanError], "")
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}
