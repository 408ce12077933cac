package jobfile

import (
	"strings"
	"testing"

	"github.com/tock-sched/tock/jobs"
)

func TestParseRunOn(t *testing.T) {
	t.Parallel()
	src := `jobs:
  - name: pinned
    schedule: '@daily'
    shell: x
    run_on: {labels: {zone: a, gpu: true}}
  - name: everywhere
    schedule: '@daily'
    shell: x
    run_on:
      broadcast: true
  - name: gpus
    schedule: '@daily'
    shell: x
    run_on: {labels: {gpu: "true"}, broadcast: true}
  - name: anywhere
    schedule: '@daily'
    shell: x
`
	cfg := mustParse(t, src)
	want := map[string]*jobs.Placement{
		"pinned":     {Labels: jobs.Labels{"zone": "a", "gpu": "true"}},
		"everywhere": {Broadcast: true},
		"gpus":       {Labels: jobs.Labels{"gpu": "true"}, Broadcast: true},
		"anywhere":   nil,
	}
	for name, w := range want {
		j := cfg.Job(name)
		switch {
		case w == nil && j.RunOn != nil:
			t.Errorf("%s: RunOn %+v, want nil", name, j.RunOn)
		case w != nil && (j.RunOn == nil || j.RunOn.Broadcast != w.Broadcast || j.RunOn.Labels.String() != w.Labels.String()):
			t.Errorf("%s: RunOn %+v, want %+v", name, j.RunOn, w)
		}
	}
	if got := cfg.Job("pinned").RequiredLabels(); got != "gpu=true,zone=a" {
		t.Errorf("RequiredLabels %q", got)
	}
	if !cfg.Job("pinned").RunsOn(jobs.Labels{"zone": "a", "gpu": "true", "rack": "7"}) ||
		cfg.Job("pinned").RunsOn(jobs.Labels{"zone": "b", "gpu": "true"}) || cfg.Job("pinned").RunsOn(nil) {
		t.Error("RunsOn does not require every label")
	}
	if !cfg.Job("anywhere").RunsOn(nil) || !cfg.Job("everywhere").RunsOn(nil) {
		t.Error("a job without labels must run anywhere")
	}
	// The streamed and the whole-document paths agree (the job list is
	// decoded in batches when it can be).
	sameAsWhole(t, []byte(src))
}

func TestParseRunOnErrors(t *testing.T) {
	t.Parallel()
	job := func(runOn string) string {
		return "jobs:\n  - name: a\n    schedule: '@daily'\n    shell: x\n" + runOn
	}
	tests := []struct {
		name, src, field string
		line             int
		msg              string
	}{
		{"unknown key", job("    run_on: {label: {zone: a}}\n"), "jobs[0].run_on.label", 5, `did you mean "labels"?`},
		{"empty labels", job("    run_on: {labels: {}}\n"), "jobs[0].run_on.labels", 5, "empty labels"},
		{"null labels", job("    run_on:\n      labels:\n"), "jobs[0].run_on.labels", 6, "empty labels"},
		{"empty block", job("    run_on: {}\n"), "jobs[0].run_on", 5, "run_on requires nothing"},
		{"broadcast false only", job("    run_on: {broadcast: false}\n"), "jobs[0].run_on", 5, "run_on requires nothing"},
		{"broadcast not bool", job("    run_on: {broadcast: yes}\n"), "jobs[0].run_on.broadcast", 5, "expected true or false"},
		{"labels not mapping", job("    run_on: {labels: [zone]}\n"), "jobs[0].run_on.labels", 5, "expected a mapping of strings"},
		{"bad key", job("    run_on:\n      labels:\n        'zo ne': a\n"), "jobs[0].run_on.labels.zo ne", 7, "invalid character"},
		{"bad value", job("    run_on:\n      labels:\n        zone: 'a,b'\n"), "jobs[0].run_on.labels.zone", 7, "invalid character ','"},
		{"empty value", job("    run_on:\n      labels:\n        zone: ''\n"), "jobs[0].run_on.labels.zone", 7, "empty value"},
		{"null value", job("    run_on: {labels: {zone: ~}}\n"), "jobs[0].run_on.labels.zone", 5, "expected a string"},
		{"not a mapping", job("    run_on: zone=a\n"), "jobs[0].run_on", 5, "expected a mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrors(t, tc.src)
			e := errs[0]
			if e.File != "tock.yaml" || e.Field != tc.field || e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got %s (field %q, line %d)\nwant field %q, line %d, message containing %q (all: %v)",
					e.Error(), e.Field, e.Line, tc.field, tc.line, tc.msg, errs)
			}
		})
	}
}

func TestRunOnDigest(t *testing.T) {
	t.Parallel()
	base := "jobs:\n  - {name: a, schedule: '@daily', shell: x"
	digest := func(extra string) string { return mustParse(t, base+extra+"}\n").Jobs[0].Digest }
	plain := digest("")
	zoneA := digest(", run_on: {labels: {zone: a}}")
	zoneB := digest(", run_on: {labels: {zone: b}}")
	bcast := digest(", run_on: {broadcast: true}")
	bcastA := digest(", run_on: {labels: {zone: a}, broadcast: true}")
	seen := map[string]bool{}
	for _, d := range []string{plain, zoneA, zoneB, bcast, bcastA} {
		if seen[d] {
			t.Fatalf("two placements share digest %s", d)
		}
		seen[d] = true
	}
	if digest(", run_on: {labels: {zone: a, gpu: x}}") != digest(", run_on: {labels: {gpu: x, zone: a}}") {
		t.Error("label order changes the digest")
	}
}
