package runtrace

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"

	"github.com/tock-sched/tock/jobs"
)

// Span names of a run's trace: the leader's dispatch is the parent of each
// attempt's claim, the claim of its attempt, the attempt of its finish.
const (
	SpanDispatch = "tock.dispatch"
	SpanClaim    = "tock.claim"
	SpanAttempt  = "tock.attempt"
	SpanFinish   = "tock.finish"
)

// Attribute keys of the spans.
const (
	KeyJob       = attribute.Key("tock.job")
	KeyRunID     = attribute.Key("tock.run_id")
	KeyAttempt   = attribute.Key("tock.attempt")
	KeyTick      = attribute.Key("tock.tick")
	KeyNode      = attribute.Key("tock.node")
	KeyEpoch     = attribute.Key("tock.epoch")
	KeyTrigger   = attribute.Key("tock.trigger")
	KeyStatus    = attribute.Key("tock.status")
	KeyRunStatus = attribute.Key("tock.run_status")
	KeyExitCode  = attribute.Key("tock.exit_code")
	KeyShard     = attribute.Key("tock.shard")
	KeyClaimVia  = attribute.Key("tock.claim.via")
	KeyBatch     = attribute.Key("tock.batch")
)

// Tick formats a run's scheduled time as the tock.tick attribute.
func Tick(t time.Time) attribute.KeyValue {
	return KeyTick.String(t.UTC().Format(time.RFC3339Nano))
}

// RunAttrs are the attributes naming run and its current attempt on node.
func RunAttrs(run jobs.Run, node string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		KeyJob.String(run.Job), KeyRunID.Int64(run.ID), KeyAttempt.Int(run.Attempt),
		Tick(run.ScheduledAt), KeyNode.String(node), KeyEpoch.Int64(run.Epoch), KeyTrigger.String(string(run.Trigger)),
	}
	if run.ShardTotal > 0 {
		attrs = append(attrs, KeyShard.Int(run.Shard))
	}
	return attrs
}

var tc = propagation.TraceContext{}

// Traceparent is the W3C traceparent of the span in ctx, "" when ctx
// holds no valid span context.
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	tc.Inject(ctx, c)
	return c["traceparent"]
}

// Parent returns ctx with the remote span context of traceparent as the
// parent of the next span; ctx unchanged when traceparent is empty or not
// a valid W3C traceparent.
func Parent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return tc.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}
