package main

import (
	"context"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tock-sched/tock/internal/tracing"
)

// TestComposeCommandsAccepted parses docker-compose.yml and checks that every
// tock command line in it is accepted by the CLI (known subcommand, known
// flags, valid values), and that the Dockerfile builds this binary and
// tock-exec beside it.
func TestComposeCommandsAccepted(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Build       any               `yaml:"build"`
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	replicas := 0
	for name, svc := range doc.Services {
		if !strings.HasPrefix(name, "tock") {
			continue
		}
		replicas++
		if svc.Build == nil {
			t.Errorf("%s: no build", name)
		}
		if len(svc.Command) == 0 {
			t.Errorf("%s: no command", name)
			continue
		}
		root := newRootCmd()
		cmd, rest, err := root.Find(svc.Command)
		if err != nil || cmd == root {
			t.Errorf("%s: %v: unknown subcommand (%v)", name, svc.Command, err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("%s: %v: %v", name, svc.Command, err)
			continue
		}
		if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
			t.Errorf("%s: %v: %v", name, svc.Command, err)
		}
		for _, k := range []string{"TOCK_STORE", "TOCK_REDIS"} {
			if svc.Environment[k] == "" {
				t.Errorf("%s: %s not set", name, k)
			}
		}
	}
	if replicas != 3 {
		t.Errorf("compose file has %d tock replicas, want 3", replicas)
	}
	for _, svc := range []string{"mysql", "redis"} {
		if _, ok := doc.Services[svc]; !ok {
			t.Errorf("compose file lacks %s", svc)
		}
	}
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// tock-exec must ship beside tock: tock looks for it there.
	for _, want := range []string{"AS build", "go build", "./cmd/tock ", "./cmd/tock-exec", "COPY --from=build /out/tock /out/tock-exec /usr/local/bin/"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestComposeTracing checks that docker-compose.yml runs a trace backend
// (Jaeger all-in-one, OTLP over HTTP on 4318, the UI published on 16686)
// and that every replica exports to it: its OTEL_* variables name the
// backend and are accepted by tock's tracing set-up.
func TestComposeTracing(t *testing.T) {
	t.Parallel()
	doc := readCompose(t)
	jaeger, ok := doc.Services["jaeger"]
	if !ok {
		t.Fatal("compose file has no jaeger service")
	}
	checkPinned(t, "jaeger", jaeger.Image, "jaegertracing/all-in-one")
	if v := jaeger.Environment["COLLECTOR_OTLP_ENABLED"]; v == "false" {
		t.Errorf("jaeger: COLLECTOR_OTLP_ENABLED=%s: OTLP off", v)
	}
	if !slices.ContainsFunc(jaeger.Ports, func(p string) bool { return strings.HasSuffix(p, ":16686") }) {
		t.Errorf("jaeger publishes %v, not its UI port 16686", jaeger.Ports)
	}
	for name := range composeReplicas(t, doc) {
		svc := doc.Services[name]
		u, err := url.Parse(svc.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
		if err != nil || u.Scheme != "http" || u.Hostname() != "jaeger" || u.Port() != "4318" {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT=%q, want http://jaeger:4318 (Jaeger's OTLP/HTTP port)", name, svc.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
		}
		tr, err := tracing.Setup(context.Background(), tracing.Options{Node: name, Getenv: func(k string) string { return svc.Environment[k] }})
		if err != nil || tr == nil {
			t.Errorf("%s: tracing set-up from its environment: %v (tracing on: %v)", name, err, tr != nil)
		} else if err := tr.Shutdown(context.Background()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !slices.Contains(svc.dependsOn(), "jaeger") {
			t.Errorf("%s does not depend on jaeger", name)
		}
	}
}
