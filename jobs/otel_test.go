package jobs_test

import (
	"strings"
	"testing"
)

// TestOpenTelemetryStaysAtTheEdge: the job model, its loader and
// executors, the storage layer and tock-exec know nothing of
// OpenTelemetry (a job gets its traceparent as a string); the scheduler
// and the worker use its API only, never the SDK or an exporter, which
// internal/tracing sets up for the binary.
func TestOpenTelemetryStaysAtTheEdge(t *testing.T) {
	t.Parallel()
	for _, pattern := range []string{"/jobs/...", "/storage/...", "/cmd/tock-exec", "/internal/tockexec"} {
		g := listDeps(t, module+pattern)
		for path := range g {
			if strings.HasPrefix(path, "go.opentelemetry.io/") {
				t.Errorf("%s depends on %s: %s", pattern, path, strings.Join(g.chain(path, nil), " → "))
			}
		}
	}
	for _, pattern := range []string{"/scheduler", "/worker"} {
		g := listDeps(t, module+pattern)
		for path := range g {
			if strings.HasPrefix(path, "go.opentelemetry.io/otel/sdk") || strings.HasPrefix(path, "go.opentelemetry.io/otel/exporters") {
				t.Errorf("%s depends on %s: %s", pattern, path, strings.Join(g.chain(path, nil), " → "))
			}
		}
	}
}
