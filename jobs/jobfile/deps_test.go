package jobfile

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
)

func TestAfterParses(t *testing.T) {
	t.Parallel()
	src := `jobs:
  - name: extract
    schedule: "*/5 * * * *"
    command: ["true"]
  - name: load
    schedule: "*/5 * * * *"
    command: ["true"]
  - name: report
    after: [extract, {job: load, on: completed}]
    shell: "echo report"
  - name: cleanup
    after: {job: report, on: failure}
    command: ["true"]
  - name: notify
    after: report
    schedule: "@daily"
    command: ["true"]
`
	cfg := mustParse(t, src)
	rep := cfg.Job("report")
	want := &jobs.Deps{After: []jobs.Upstream{{Job: "extract", On: jobs.DepSuccess}, {Job: "load", On: jobs.DepCompleted}}}
	if !reflect.DeepEqual(rep.Deps, want) || rep.Schedule != "" || !rep.Next(rep.Next(parseTime(t, "2026-01-01T00:00:00Z"))).IsZero() {
		t.Fatalf("report: deps %+v schedule %q", rep.Deps, rep.Schedule)
	}
	if !rep.Deps.FanIn() || cfg.Job("notify").Deps.FanIn() {
		t.Fatal("FanIn wrong")
	}
	if got := cfg.Job("cleanup").Deps; got == nil || got.After[0] != (jobs.Upstream{Job: "report", On: jobs.DepFailure}) {
		t.Fatalf("cleanup deps %+v (a mapping alone must read as a list of one)", got)
	}
	var edges []string
	for _, e := range cfg.DepEdges() {
		edges = append(edges, e.String())
	}
	wantEdges := []string{"extract -> report (success)", "load -> report (completed)", "report -> cleanup (failure)", "report -> notify (success)"}
	if !reflect.DeepEqual(edges, wantEdges) {
		t.Fatalf("edges %q, want %q", edges, wantEdges)
	}
	if d := cfg.Dependents("report"); len(d) != 2 || d[0].Name != "cleanup" || d[1].Name != "notify" {
		t.Fatalf("dependents of report: %v", d)
	}
	if cfg.Dependents("cleanup") != nil || !cfg.HasDeps() {
		t.Fatal("dependents index wrong")
	}
	if cfg.Job("extract").Deps != nil {
		t.Fatal("a job without after has Deps")
	}
	sameAsWhole(t, []byte(src))

	// A config without after keeps its digest whatever the code around
	// dependencies does; one with after differs when an edge changes.
	other := mustParse(t, strings.Replace(src, "on: completed", "on: success", 1))
	if other.Digest == cfg.Digest {
		t.Fatal("changing a condition did not change the config digest")
	}
	if other.Job("report").Digest != cfg.Job("report").Digest {
		t.Fatal("a condition changed the job digest: workers would refuse runs over what only the leader uses")
	}
}

func TestAfterErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src string
		want      []string // "line field: message part"
	}{
		{"unknown upstream", `jobs:
  - name: extract
    schedule: "@daily"
    command: ["true"]
  - name: report
    after: [extrat]
    command: ["true"]
`, []string{`6 jobs[1].after[0]: unknown upstream job "extrat" (did you mean "extract"?)`}},
		{"self", `jobs:
  - name: report
    after:
      - job: report
    command: ["true"]
`, []string{`4 jobs[0].after[0].job: job "report" cannot follow itself`}},
		{"cycle", `jobs:
  - name: a
    after: [c]
    command: ["true"]
  - name: b
    after: [a]
    command: ["true"]
  - name: c
    after: [b]
    command: ["true"]
`, []string{`6 jobs[1].after[0]: dependency cycle: a -> b -> c -> a`}},
		{"bad condition", `jobs:
  - name: a
    schedule: "@daily"
    command: ["true"]
  - name: b
    after: [{job: a, on: succes}]
    command: ["true"]
`, []string{`6 jobs[1].after[0].on: unknown value "succes" (want one of success, failure, completed)`}},
		{"bad key", `jobs:
  - name: a
    schedule: "@daily"
    command: ["true"]
  - name: b
    after: [{jobs: a}]
    command: ["true"]
`, []string{`6 jobs[1].after[0].job: missing required field`, `6 jobs[1].after[0].jobs: unknown field (did you mean "job"?)`}},
		{"no schedule and no after", `jobs:
  - name: a
    command: ["true"]
`, []string{`2 jobs[0].schedule: missing required field (a job without after: needs a schedule)`}},
		{"twice", `jobs:
  - name: a
    schedule: "@daily"
    command: ["true"]
  - name: b
    after: [a, a]
    command: ["true"]
`, []string{`6 jobs[1].after[1]: upstream job "a" listed twice`}},
		{"empty", `jobs:
  - name: b
    after: []
    command: ["true"]
`, []string{`3 jobs[0].after: expected a list of upstream jobs`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			errs := parseErrors(t, c.src)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if len(got) != len(c.want) {
				t.Fatalf("errors:\n%s\nwant %d", strings.Join(got, "\n"), len(c.want))
			}
			for i, w := range c.want {
				line, rest, _ := strings.Cut(w, " ")
				if !strings.HasPrefix(got[i], "tock.yaml:"+line+": "+rest) {
					t.Errorf("error %d = %q, want prefix %q", i, got[i], "tock.yaml:"+line+": "+rest)
				}
			}
			sameAsWhole(t, []byte(c.src))
		})
	}
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
