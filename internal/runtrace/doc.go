// Package runtrace names the spans of a run's trace and their attributes,
// and carries a span context across replicas as a W3C traceparent (the
// runs row's traceparent column, the TRACEPARENT variable and header of an
// attempt).
//
// It depends on the OpenTelemetry API only (go.opentelemetry.io/otel/trace
// and friends), never on the SDK or an exporter: the scheduler and the
// worker take a trace.Tracer, nil when tracing is off, and package
// internal/tracing builds the real one. Code that is handed a nil tracer
// does no tracing work at all.
package runtrace
