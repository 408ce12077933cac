package main

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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
