package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tock-sched/tock/internal/api/apitest"
)

// paramsYAML is the history's config plus a job with params.
const paramsYAML = apitest.ConfigYAML + `
  - name: params
    schedule: "@daily"
    command: ["/bin/true"]
    params:
      - {name: day, default: "2026-01-01", pattern: '\d{4}-\d{2}-\d{2}'}
      - {name: customer}
`

// paramsModes are the two modes on the history with paramsYAML as config.
func paramsModes(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	sflags, _ := storeFixture(t)
	for i, f := range sflags {
		if f == "--config" {
			if err := os.WriteFile(sflags[i+1], []byte(paramsYAML), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	out["store"] = sflags
	hflags, h := serverFixture(t)
	h.Config = apitest.MustConfig(t, paramsYAML)
	out["server"] = hflags
	return out
}

var runIDRE = regexp.MustCompile(`run (\d+)`)

func TestCLITriggerParamsAt(t *testing.T) {
	clearEnv(t)
	for mode, flags := range paramsModes(t) {
		t.Run(mode, func(t *testing.T) {
			run := expectExit(t, flags)
			r := run(0, "trigger", "params", "--param", "customer=acme", "--param", "day=2026-02-02")
			m := runIDRE.FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("trigger printed %q", r.stdout)
			}
			show := run(0, "runs", "show", m[1])
			for _, want := range []string{"trigger    manual", `params     customer="acme"`, `day="2026-02-02"`} {
				if !strings.Contains(show.stdout, want) {
					t.Errorf("runs show lacks %q:\n%s", want, show.stdout)
				}
			}
			for _, tc := range []struct {
				args []string
				msg  string
			}{
				{[]string{"--param", "customer=x", "--param", "day=monday"}, `tock: --param day: value "monday" does not match pattern`},
				{[]string{"--param", "day=2026-02-02"}, "tock: --param customer: required"},
				{[]string{"--param", "customer=x", "--param", "LD_PRELOAD=/x.so"}, "tock: --param LD_PRELOAD: not declared by the job (declared: day, customer)"},
				{[]string{"--param", "customer"}, `tock: --param "customer": want NAME=VALUE`},
				{[]string{"--param", "customer=a", "--param", "customer=b"}, "tock: --param customer given twice"},
				{[]string{"--param", "customer=a", "--at", "soon"}, "tock: --at: "},
			} {
				r := run(2, append([]string{"trigger", "params"}, tc.args...)...)
				if !strings.Contains(r.stderr, tc.msg) {
					t.Errorf("%v: stderr %q, want %q", tc.args, r.stderr, tc.msg)
				}
			}
			if r := run(0, "runs", "--job", "params"); strings.Count(r.stdout, "manual") != 1 {
				t.Errorf("refused triggers stored runs:\n%s", r.stdout)
			}

			r = run(0, "trigger", "backup", "--at", "+10m")
			if !strings.Contains(r.stdout, "due 2026-11-28T12:10:00Z") {
				t.Fatalf("trigger --at printed %q", r.stdout)
			}
			later := runIDRE.FindStringSubmatch(r.stdout)[1]
			if l := run(0, "runs", "--job", "backup", "--status", "scheduled"); !strings.Contains(l.stdout, "2026-11-28 12:10:00.000  manual   scheduled") {
				t.Errorf("runs lacks the waiting run with its due time:\n%s", l.stdout)
			}
			if c := run(0, "cancel", later); !strings.Contains(c.stdout, "run "+later+" canceled") {
				t.Errorf("cancel of a waiting run printed %q", c.stdout)
			}
		})
	}
}

func TestCLIBackfill(t *testing.T) {
	clearEnv(t)
	for mode, flags := range paramsModes(t) {
		t.Run(mode, func(t *testing.T) {
			run := expectExit(t, flags)
			dry := run(0, "backfill", "backup", "--from", "1h", "--to", "30m", "--dry-run")
			if !strings.Contains(dry.stdout, "would create 2 runs") || !strings.Contains(dry.stdout, "(dry run)") {
				t.Errorf("dry run printed:\n%s", dry.stdout)
			}
			r := run(0, "backfill", "backup", "--from", "1h", "--to", "30m", "--max-concurrent", "1")
			for _, want := range []string{
				"backfill of backup from 2026-11-28T11:00:00Z to 2026-11-28T11:30:00Z: 7 ticks, backfill 1",
				"created 2 runs",
				"already present 3 (failed 1, queued 1, succeeded 1)",
				"2026-11-28T11:10:00Z: run ",
				"left to the scheduler 2 (after its cursor 2026-11-28T11:20:00Z)",
				"at most 1 of its runs queued or running at once",
			} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("backfill lacks %q:\n%s", want, r.stdout)
				}
			}
			again := run(0, "backfill", "backup", "--from", "1h", "--to", "30m")
			if !strings.Contains(again.stdout, "created 0 runs") || !strings.Contains(again.stdout, "already present 5 (failed 1, queued 1, scheduled 2, succeeded 1)") ||
				!strings.Contains(again.stdout, "backfill 1") {
				t.Errorf("second backfill:\n%s", again.stdout)
			}
			if l := run(0, "runs", "--job", "backup", "--trigger", "backfill"); strings.Count(l.stdout, "backfill") != 2 {
				t.Errorf("runs --trigger backfill:\n%s", l.stdout)
			}
			if c := run(0, "cancel", "--backfill", "1"); !strings.Contains(c.stdout, "backfill 1: 2 waiting runs canceled") {
				t.Errorf("cancel --backfill printed %q", c.stdout)
			}
			if c := run(1, "cancel", "--backfill", "9"); !strings.Contains(c.stderr, "tock: backfill 9 not found") {
				t.Errorf("cancel --backfill of an unknown backfill: %q", c.stderr)
			}
			j := run(0, "backfill", "backup", "--from", "1h", "--to", "30m", "-o", "json")
			if !strings.Contains(j.stdout, `"present": 5`) {
				t.Errorf("-o json:\n%s", j.stdout)
			}
			for _, tc := range []struct {
				args []string
				msg  string
			}{
				{[]string{"--from", "1h", "--to", "2026-11-28T12:05:00Z"}, "tock: --to: 2026-11-28T12:05:00Z is in the future"},
				{[]string{"--from", "1h", "--to", "2h"}, "tock: --from: 2026-11-28T11:00:00Z is after to"},
				{[]string{"--from", "400d", "--to", "now"}, "tock: --from: the range holds 115201 ticks"},
				{[]string{"--to", "now"}, "tock: --from and --to are required"},
				{[]string{"--from", "1h", "--to", "now", "--max-concurrent", "-1"}, "tock: --max-concurrent: must not be negative"},
			} {
				r := run(2, append([]string{"backfill", "backup"}, tc.args...)...)
				if !strings.Contains(r.stderr, tc.msg) {
					t.Errorf("%v: stderr %q, want %q", tc.args, r.stderr, tc.msg)
				}
			}
		})
	}
}

func TestValidatePrintsParams(t *testing.T) {
	clearEnv(t)
	path := t.TempDir() + "/tock.yaml"
	if err := os.WriteFile(path, []byte(paramsYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cli("validate", "-c", path, "-n", "1")
	want := `  params  TOCK_PARAM_DAY="2026-01-01" ~ /\d{4}-\d{2}-\d{2}/, TOCK_PARAM_CUSTOMER (required)`
	if r.code != 0 || !strings.Contains(r.stdout, "params  \"@daily\"") || !strings.Contains(r.stdout, want) {
		t.Fatalf("validate: exit %d\n%s\nwant a line %q", r.code, r.stdout, want)
	}
	bad := strings.Replace(paramsYAML, `pattern: '\d{4}-\d{2}-\d{2}'`, `pattern: '[0-9'`, 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := cli("validate", "-c", path); r.code != 1 || !strings.Contains(r.stderr, `jobs[3].params[0].pattern: invalid pattern "[0-9"`) {
		t.Fatalf("validate of a bad pattern: exit %d\n%s", r.code, r.stderr)
	}
}
