package tracing

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of tock's spans.
const ScopeName = "github.com/tock-sched/tock"

// DefaultShutdownTimeout bounds the flush of the spans still queued when
// the process stops.
const DefaultShutdownTimeout = 5 * time.Second

// failureLogEvery is how often a failing exporter is logged.
const failureLogEvery = time.Minute

// Options configure Setup.
type Options struct {
	// Node is the replica's name: the resource's service.instance.id and
	// tock.node.
	Node string
	// Logger receives export failures. Default slog.Default().
	Logger *slog.Logger
	// Getenv reads the OTEL_* variables. Default os.Getenv. (The OTLP
	// exporter reads OTEL_EXPORTER_OTLP_HEADERS, the certificate and
	// compression variables, and the SDK the OTEL_BSP_* ones, from the
	// process environment.)
	Getenv func(string) string
	// Console is where the console exporter writes. Default os.Stdout.
	Console io.Writer
	// ExportFailed, when set, is called with the number of spans of each
	// export that failed (metrics).
	ExportFailed func(spans int)
}

// Tracing is the process's tracer provider; the nil *Tracing is tracing
// off.
type Tracing struct {
	tp       *sdktrace.TracerProvider
	exporter string
	endpoint string
}

// Setup builds the tracer provider the OTEL_* variables ask for; nil, nil
// when they ask for none.
func Setup(ctx context.Context, o Options) (*Tracing, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Console == nil {
		o.Console = os.Stdout
	}
	c, err := parse(o.Getenv)
	if err != nil || c.exporter == "" {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	switch c.exporter {
	case ExporterConsole:
		exp, err = stdouttrace.New(stdouttrace.WithWriter(o.Console))
	default:
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(c.endpoint)}
		if c.timeout > 0 {
			opts = append(opts, otlptracehttp.WithTimeout(c.timeout))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: %s exporter: %w", c.exporter, err)
	}
	attrs := append(c.attrs,
		attribute.String("service.name", c.service),
		attribute.String("service.instance.id", o.Node),
		attribute.String("tock.node", o.Node),
	)
	res := resource.NewWithAttributes("", attrs...)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(c.sampler),
		// The batch processor never blocks a span's End: a full queue
		// drops spans (OTEL_BSP_MAX_QUEUE_SIZE, default 2048).
		sdktrace.WithBatcher(&countingExporter{SpanExporter: exp, log: o.Logger, failed: o.ExportFailed, endpoint: c.endpoint}),
	)
	return &Tracing{tp: tp, exporter: c.exporter, endpoint: c.endpoint}, nil
}

// Tracer is the tracer of tock's spans; nil when t is nil (tracing off),
// which the scheduler and the worker take as "do not trace".
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return nil
	}
	return t.tp.Tracer(ScopeName)
}

// LogAttrs describe the tracing set up, for the start-up log line.
func (t *Tracing) LogAttrs() []any {
	if t == nil {
		return []any{slog.String("tracing", "off")}
	}
	if t.exporter == ExporterOTLP {
		return []any{slog.String("tracing", t.exporter), slog.String("traces_endpoint", t.endpoint)}
	}
	return []any{slog.String("tracing", t.exporter)}
}

// Shutdown exports the spans still queued and stops the exporter, giving
// up when ctx ends. Safe on nil.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// countingExporter reports failed exports to ExportFailed and the log (at
// most once per failureLogEvery) and hides them from the SDK, whose global
// error handler would print each one.
type countingExporter struct {
	sdktrace.SpanExporter
	log      *slog.Logger
	failed   func(int)
	endpoint string

	mu         sync.Mutex
	lastLog    time.Time
	suppressed int
}

// ExportSpans exports spans; a failure is counted and logged, never
// returned.
func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil {
		return nil
	}
	if e.failed != nil {
		e.failed(len(spans))
	}
	e.mu.Lock()
	now := time.Now()
	if !e.lastLog.IsZero() && now.Sub(e.lastLog) < failureLogEvery {
		e.suppressed++
		e.mu.Unlock()
		return nil
	}
	suppressed := e.suppressed
	e.lastLog, e.suppressed = now, 0
	e.mu.Unlock()
	e.log.Warn("exporting spans failed; they are dropped", slog.Int("spans", len(spans)), slog.String("endpoint", e.endpoint),
		slog.Int("failures_not_logged", suppressed), slog.Any("error", err))
	return nil
}
