// Package tracing builds the process's OpenTelemetry tracer from the
// standard OTEL_* environment variables: OTLP over HTTP (http/protobuf) or
// the console, a batch span processor, a resource naming the service and
// the node, and a sampler. Tracing is off unless those variables ask for
// it; a value it cannot use is an error that names the variable.
//
// Only cmd/tock's wiring (internal/replica) imports it: the scheduler and
// the worker take the trace.Tracer it returns (package runtrace names the
// spans), so the SDK and the exporter stay out of them. Export never
// blocks or fails a run: spans wait in the batch processor's bounded
// queue and are dropped when it is full, a failed export is counted and
// logged at most once a minute.
package tracing
