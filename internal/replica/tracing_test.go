package replica

import (
	"strings"
	"testing"
)

// A replica whose OTEL_* variables tock cannot use refuses to start,
// naming the variable; with usable ones it starts tracing.
func TestOpenTracingVariables(t *testing.T) {
	path := writeConfig(t, "jobs:\n  - name: hook\n    schedule: \"0 0 * * *\"\n    http: {url: \"http://127.0.0.1:1/\"}\n")
	open := func(db string) (*Replica, error) { return openReplica(path, "a", db) }
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_TRACES_SAMPLER", "sometimes")
	if r, err := open("a.db"); err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_SAMPLER") {
		if r != nil {
			r.Close()
		}
		t.Fatalf("Open with OTEL_TRACES_SAMPLER=sometimes: %v, want an error naming the variable", err)
	}
	t.Setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0.5")
	r, err := open("b.db")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.tracing.Tracer() == nil {
		t.Fatal("tracing variables set, but the replica does not trace")
	}
}
