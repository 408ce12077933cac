package tracing

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/tracing/otlptest"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		env      map[string]string
		exporter string
		endpoint string
		service  string
	}{
		{"nothing set: off", nil, "", "", ""},
		{"endpoint turns otlp on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, "otlp", "http://jaeger:4318/v1/traces", "tock"},
		{"base path kept", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c.example/otlp/"}, "otlp", "https://c.example/otlp/v1/traces", "tock"},
		{"traces endpoint as given", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:9/x"}, "otlp", "http://b:9/x", "tock"},
		{"otlp default endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, "otlp", "http://localhost:4318/v1/traces", "tock"},
		{"none wins", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"}, "", "", ""},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, "", "", ""},
		{"console", map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "cron"}, "console", "", "cron"},
		{"service from resource attributes", map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_RESOURCE_ATTRIBUTES": "service.name=a%20b,env=prod"}, "console", "", "a b"},
		{"http/protobuf", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "otlp", "http://localhost:4318/v1/traces", "tock"},
	} {
		c, err := parse(env(tc.env))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.exporter != tc.exporter || c.endpoint != tc.endpoint || c.service != tc.service {
			t.Errorf("%s: exporter %q endpoint %q service %q, want %q %q %q", tc.name, c.exporter, c.endpoint, c.service, tc.exporter, tc.endpoint, tc.service)
		}
	}
}

// TestParseErrors: a value tock cannot use is an error naming the variable.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	on := "OTEL_EXPORTER_OTLP_ENDPOINT"
	for _, tc := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp,console"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{"OTEL_SDK_DISABLED": "yes"}, "OTEL_SDK_DISABLED"},
		{map[string]string{on: "jaeger:4318"}, on},
		{map[string]string{on: "ftp://jaeger"}, on},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{on: "http://a:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{on: "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{map[string]string{on: "http://a:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{on: "http://a:4318", "OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
		{map[string]string{on: "http://a:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG"},
		{map[string]string{on: "http://a:4318", "OTEL_RESOURCE_ATTRIBUTES": "novalue"}, "OTEL_RESOURCE_ATTRIBUTES"},
	} {
		_, err := parse(env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.name)
		}
	}
}

// TestSetupExports: spans reach an OTLP/HTTP receiver with the resource
// naming the service and the node, and Shutdown flushes them.
func TestSetupExports(t *testing.T) {
	t.Parallel()
	rcv, err := otlptest.Start(true)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	tr, err := Setup(context.Background(), Options{Node: "node-7",
		Getenv: env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL(), "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test"})})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Tracer().Start(context.Background(), "probe")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	spans := rcv.Spans()
	if len(spans) != 1 || spans[0].Name != "probe" {
		t.Fatalf("received %+v, want the probe span", spans)
	}
	res := spans[0].Resource
	if res["service.name"] != "tock" || res["tock.node"] != "node-7" || res["service.instance.id"] != "node-7" || res["deployment.environment"] != "test" {
		t.Errorf("resource %v", res)
	}
}

// TestSetupOff: without OTEL_* variables there is no tracer, and the nil
// Tracing is safe to use.
func TestSetupOff(t *testing.T) {
	t.Parallel()
	tr, err := Setup(context.Background(), Options{Getenv: env(nil)})
	if err != nil || tr != nil || tr.Tracer() != nil || tr.Shutdown(context.Background()) != nil {
		t.Fatalf("Setup with no variables: %v, %v", tr, err)
	}
}

// TestExportFailureCounted: an endpoint refusing the spans costs them
// (counted, logged once), not an error anyone sees.
func TestExportFailureCounted(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer srv.Close()
	var failed atomic.Int64
	var logs bytes.Buffer
	tr, err := Setup(context.Background(), Options{Node: "n", Logger: newLogger(&logs),
		Getenv:       env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}),
		ExportFailed: func(n int) { failed.Add(int64(n)) }})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, span := tr.Tracer().Start(context.Background(), "x")
		span.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown returned the export failure: %v", err)
	}
	if failed.Load() != 3 {
		t.Errorf("%d spans counted as failed, want 3", failed.Load())
	}
	if n := strings.Count(logs.String(), "exporting spans failed"); n != 1 {
		t.Errorf("%d failure lines logged, want 1:\n%s", n, logs.String())
	}
}

func newLogger(w *bytes.Buffer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// TestConsoleExporter: OTEL_TRACES_EXPORTER=console writes the spans as
// JSON to the console writer, flushed by Shutdown.
func TestConsoleExporter(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	tr, err := Setup(context.Background(), Options{Node: "n", Console: &out, Getenv: env(map[string]string{"OTEL_TRACES_EXPORTER": "console"})})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Tracer().Start(context.Background(), "to-the-console")
	span.End()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"Name":"to-the-console"`) {
		t.Errorf("console output lacks the span:\n%s", out.String())
	}
}
