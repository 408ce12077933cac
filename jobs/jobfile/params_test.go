package jobfile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tock-sched/tock/jobs"
)

func TestParseParams(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, `jobs:
  - name: report
    schedule: '@daily'
    command: [report]
    env: {REPORT_DIR: /tmp}
    params:
      - name: day
        default: "2026-01-01"
        pattern: '\d{4}-\d{2}-\d{2}'
      - name: force
        default: ""
      - {name: customer_id}
  - name: plain
    schedule: '@daily'
    command: [x]
`)
	j := cfg.Job("report")
	if j.Params == nil || len(j.Params.List) != 3 {
		t.Fatalf("params = %+v, want 3", j.Params)
	}
	day := j.Params.List[0]
	if day.Name != "day" || day.Default == nil || *day.Default != "2026-01-01" || day.Pattern != `\d{4}-\d{2}-\d{2}` {
		t.Fatalf("day = %+v", day)
	}
	if j.Params.List[2].Default != nil {
		t.Fatalf("customer_id has a default: %q", *j.Params.List[2].Default)
	}
	if cfg.Job("plain").Params != nil {
		t.Fatal("a job without params has a ParamSpec")
	}
	got, err := j.Params.Resolve(map[string]string{"customer_id": "7", "day": "2025-12-31"})
	if err != nil || got["day"] != "2025-12-31" || got["force"] != "" || got["customer_id"] != "7" || len(got) != 3 {
		t.Fatalf("Resolve = %v, %v", got, err)
	}
	// The pattern is anchored: a value containing a match is not one.
	if _, err := j.Params.Resolve(map[string]string{"customer_id": "7", "day": "x2025-12-31"}); err == nil {
		t.Fatal("Resolve accepted a value that only contains a match of the pattern")
	}
	if d := j.Params.Defaults(); len(d) != 2 || d["day"] != "2026-01-01" {
		t.Fatalf("Defaults = %v, want day and force", d)
	}
}

// TestParamsInDigest: params change what executes, so they change the
// digest; a job without params keeps its digest.
func TestParamsInDigest(t *testing.T) {
	t.Parallel()
	base := "jobs:\n  - name: a\n    schedule: '@daily'\n    command: [x]\n"
	digest := func(extra string) string { return mustParse(t, base+extra).Jobs[0].Digest }
	plain := digest("")
	seen := map[string]string{plain: "no params"}
	for _, extra := range []string{
		"    params: []\n",
		"    params: [{name: p}]\n",
		"    params: [{name: p, default: ''}]\n",
		"    params: [{name: p, default: x}]\n",
		"    params: [{name: p, default: x, pattern: '[a-z]'}]\n",
		"    params: [{name: q, default: x}]\n",
	} {
		d := digest(extra)
		if extra == "    params: []\n" {
			if d != plain {
				t.Errorf("empty params changed the digest")
			}
			continue
		}
		if prev, dup := seen[d]; dup {
			t.Errorf("%q has the digest of %q", extra, prev)
		}
		seen[d] = extra
	}
}

func TestParseParamErrors(t *testing.T) {
	t.Parallel()
	job := func(params string) string {
		return "jobs:\n  - name: a\n    schedule: '@daily'\n    command: [x]\n    env: {TOCK_PARAM_CLASH: x}\n    params:\n" + params
	}
	tests := []struct {
		name, params, field string
		line                int
		msg                 string
	}{
		{"not a list", "      day: x\n", "jobs[0].params", 7, "expected a list of parameters"},
		{"no name", "      - {default: x}\n", "jobs[0].params[0].name", 7, "missing required field"},
		{"bad name", "      - {name: 1day}\n", "jobs[0].params[0].name", 7, `invalid parameter name "1day"`},
		{"name with dash", "      - {name: my-day}\n", "jobs[0].params[0].name", 7, `invalid parameter name "my-day"`},
		{"same name in another case", "      - {name: day}\n      - {name: DAY}\n", "jobs[0].params[1].name", 8, "declared twice"},
		{"unknown key", "      - {name: day, defualt: x}\n", "jobs[0].params[0].defualt", 7, `did you mean "default"?`},
		{"invalid pattern", "      - name: day\n        pattern: '[a-'\n", "jobs[0].params[0].pattern", 8, `invalid pattern "[a-"`},
		{"default refused by pattern", "      - name: day\n        default: monday\n        pattern: '[0-9]+'\n", "jobs[0].params[0].default", 8, `value "monday" does not match pattern "[0-9]+"`},
		{"env sets a param variable", "      - {name: clash}\n", "jobs[0].env.TOCK_PARAM_CLASH", 5, `set by parameter "clash"`},
		{"default not a string", "      - {name: day, default: [1]}\n", "jobs[0].params[0].default", 7, "expected a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := job(tc.params)
			errs := parseErrors(t, src)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), (&ConfigError{Errors: errs}).Error())
			}
			e := errs[0]
			if e.Field != tc.field || e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got %s (field %q, line %d)\nwant field %q, line %d, message containing %q", e.Error(), e.Field, e.Line, tc.field, tc.line, tc.msg)
			}
			sameAsWhole(t, []byte(src))
		})
	}
	var many strings.Builder
	for i := range jobs.MaxParams + 1 {
		fmt.Fprintf(&many, "      - {name: p%d}\n", i)
	}
	if errs := parseErrors(t, job(many.String())); len(errs) != 1 || !strings.Contains(errs[0].Msg, "more than 64 parameters") {
		t.Fatalf("too many params: %v", errs)
	}
}

// TestParamsStreamed: params parse alike when the jobs list is decoded in
// batches and as a whole document.
func TestParamsStreamed(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("jobs:\n")
	for i := range 300 {
		fmt.Fprintf(&b, "  - name: j%d\n    schedule: '@every %ds'\n    command: [x]\n    params:\n      - {name: day, default: d%d, pattern: 'd[0-9]+'}\n      - {name: id}\n", i, i+1, i)
	}
	sameAsWhole(t, []byte(b.String()))
	cfg := mustParse(t, b.String())
	if p := cfg.Job("j299").Params; p == nil || *p.List[0].Default != "d299" {
		t.Fatalf("j299 params = %+v", p)
	}
}
