package jobfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
)

// digestHexLen is the length of a job's or a config's digest.
const digestHexLen = 32

// fileFields returns j's exported fields but Digest: what the config file
// says about the job. The parsed schedule and zone are unexported; tests
// check them through Next and Location.
func fileFields(j *jobs.Job) map[string]any {
	v := reflect.ValueOf(j).Elem()
	out := make(map[string]any, v.NumField())
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() && f.Name != "Digest" {
			out[f.Name] = v.Field(i).Interface()
		}
	}
	return out
}

// mustParse parses a config that must be valid.
func mustParse(t *testing.T, src string) *jobs.Config {
	t.Helper()
	cfg, err := Parse("tock.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

// parseErrors parses a config that must be invalid and returns its problems.
func parseErrors(t *testing.T, src string) []FieldError {
	t.Helper()
	cfg, err := Parse("tock.yaml", []byte(src))
	if err == nil {
		t.Fatalf("Parse succeeded with %d jobs, want an error", len(cfg.Jobs))
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Parse error %T (%v), want *ConfigError", err, err)
	}
	return ce.Errors
}

func TestLoadValid(t *testing.T) {
	t.Parallel()
	cfg, err := Load(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Path != filepath.Join("testdata", "valid.yaml") {
		t.Errorf("Path = %q", cfg.Path)
	}
	wantDefaults := jobs.Defaults{
		Timezone: "Europe/Berlin", Timeout: 20 * time.Minute, Retries: 1,
		RetryBackoff: 30 * time.Second, RetryBackoffMax: 5 * time.Minute,
		Concurrency: jobs.ConcurrencyForbid, Misfire: jobs.MisfireRunOnce, CatchupWindow: 2 * time.Hour,
		Jitter: 5 * time.Second, MaxConcurrency: 2,
	}
	if cfg.Defaults != wantDefaults {
		t.Errorf("Defaults = %+v\nwant %+v", cfg.Defaults, wantDefaults)
	}
	if want := (jobs.HistoryConfig{Keep: 30 * 24 * time.Hour, KeepPerJob: 10000}); cfg.History != want {
		t.Errorf("History = %+v, want %+v", cfg.History, want)
	}

	want := []*jobs.Job{
		{
			Name:     "nightly-report",
			Schedule: "30 2 * * *",
			Command:  []string{"/usr/bin/make", "-C", "/srv/reports", "report"},
			Env:      map[string]string{"REPORT_DIR": "/var/reports", "LEVEL": "3"},
			Line:     19,
			Settings: &jobs.Settings{Timezone: "Europe/Berlin", Timeout: 15 * time.Minute, Retries: 3, RetryBackoff: 30 * time.Second, RetryBackoffMax: 5 * time.Minute, Concurrency: jobs.ConcurrencyForbid, Misfire: jobs.MisfireRunOnce, CatchupWindow: 2 * time.Hour, MaxConcurrency: 1, Jitter: 30 * time.Second},
		},
		{
			Name:     "db.backup",
			Schedule: "@daily",
			Shell:    "pg_dump app | gzip > /backups/app.sql.gz",
			Line:     29,
			Settings: &jobs.Settings{Timezone: "America/New_York", Timeout: 36 * time.Hour, Retries: 1, RetryBackoff: 30 * time.Second, RetryBackoffMax: 5 * time.Minute, Concurrency: jobs.ConcurrencyReplace, Misfire: jobs.MisfireRunAll, CatchupWindow: 24 * time.Hour, MaxConcurrency: 2, Jitter: 5 * time.Second},
		},
		{
			Name:     "ping_upstream",
			Schedule: "*/20 * * * * *",
			HTTP: &jobs.HTTPSpec{
				Method: "POST", URL: "https://hooks.example.com/tock?source=cron",
				Headers: map[string]string{"Content-Type": "application/json", "X-Token": "abc123"},
				Body:    `{"ping": true}`, Success: []int{200, 204},
			},
			Line:     38,
			Settings: &jobs.Settings{Timezone: "UTC", Timeout: 20 * time.Minute, Retries: 0, RetryBackoff: 0, RetryBackoffMax: 5 * time.Minute, Concurrency: jobs.ConcurrencyAllow, Misfire: jobs.MisfireSkip, CatchupWindow: 2 * time.Hour, MaxConcurrency: 2, Jitter: 5 * time.Second},
		},
		{
			Name:     "cache-warm",
			Schedule: "@every 1h30m",
			HTTP:     &jobs.HTTPSpec{Method: "GET", URL: "http://127.0.0.1:8080/warm"},
			Paused:   true,
			Line:     52,
			Settings: &jobs.Settings{Timezone: "Europe/Berlin", Timeout: 20 * time.Minute, Retries: 1, RetryBackoff: 30 * time.Second, RetryBackoffMax: 5 * time.Minute, Concurrency: jobs.ConcurrencyForbid, Misfire: jobs.MisfireRunOnce, CatchupWindow: 2 * time.Hour, MaxConcurrency: 2, Jitter: 5 * time.Second},
		},
		{
			Name:     "monthly-invoices",
			Schedule: "0 6 1 * *",
			Command:  []string{"/opt/billing/bin/invoice", "--month=previous"},
			Env:      map[string]string{"BILLING_DB": "postgres://billing@db/billing"},
			Line:     57,
			Settings: &jobs.Settings{Timezone: "Asia/Kolkata", Timeout: 20 * time.Minute, Retries: 1, RetryBackoff: 30 * time.Second, RetryBackoffMax: 5 * time.Minute, Concurrency: jobs.ConcurrencyForbid, Misfire: jobs.MisfireRunOnce, CatchupWindow: 2 * time.Hour, MaxConcurrency: 2, Jitter: 5 * time.Second},
		},
	}
	if len(cfg.Jobs) != len(want) {
		t.Fatalf("got %d jobs, want %d", len(cfg.Jobs), len(want))
	}
	for i, w := range want {
		got := cfg.Jobs[i]
		if got.Location().String() != w.Timezone {
			t.Errorf("job %s: location %v, want %s", w.Name, got.Location(), w.Timezone)
		}
		if len(got.Digest) != digestHexLen {
			t.Errorf("job %s: digest %q", w.Name, got.Digest)
		}
		if !reflect.DeepEqual(fileFields(got), fileFields(w)) {
			t.Errorf("job %d:\n got %+v\nwant %+v", i, got, w)
		}
		if cfg.Job(w.Name) != cfg.Jobs[i] {
			t.Errorf("Job(%q) did not find it", w.Name)
		}
	}
	if cfg.Job("nope") != nil {
		t.Error("Job(nope) found something")
	}
	if len(cfg.Digest) != digestHexLen {
		t.Errorf("config digest %q", cfg.Digest)
	}

	// Schedules are evaluated in each job's zone.
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ job, want string }{
		{"nightly-report", "2026-06-01T00:30:00Z"},   // 02:30 CEST
		{"db.backup", "2026-06-01T04:00:00Z"},        // midnight EDT
		{"ping_upstream", "2026-06-01T00:00:20Z"},    // every 20 s
		{"cache-warm", "2026-06-01T01:30:00Z"},       // @every 1h30m
		{"monthly-invoices", "2026-06-01T00:30:00Z"}, // 06:00 IST
	} {
		if got := cfg.Job(tc.job).Next(from).Format(time.RFC3339); got != tc.want {
			t.Errorf("%s: Next = %s, want %s", tc.job, got, tc.want)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		t.Fatal("a missing file is not a *ConfigError")
	}
}

func TestLoadTooLarge(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "big.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: the size is what counts, not the bytes on disk.
	if err := f.Truncate(MaxConfigSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want a size error", err)
	}
}

func TestParseBuiltinDefaults(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, "jobs:\n  - name: a\n    schedule: '@hourly'\n    command: [true]\n")
	if cfg.Defaults != jobs.BuiltinDefaults() {
		t.Errorf("Defaults = %+v, want built-in", cfg.Defaults)
	}
	j := cfg.Jobs[0]
	want := jobs.Job{
		Name:     "a",
		Schedule: "@hourly",
		Command:  []string{"true"},
		Line:     2,
		Settings: &jobs.Settings{Timezone: jobs.DefaultTimezone, Timeout: jobs.DefaultTimeout, Retries: jobs.DefaultRetries, RetryBackoff: jobs.DefaultRetryBackoff, RetryBackoffMax: jobs.DefaultRetryBackoffMax, Concurrency: jobs.DefaultConcurrency, Misfire: jobs.DefaultMisfire, CatchupWindow: jobs.DefaultCatchupWindow, Jitter: jobs.DefaultJitter, MaxConcurrency: jobs.DefaultMaxConcurrency},
	}
	if !reflect.DeepEqual(fileFields(j), fileFields(&want)) {
		t.Errorf("job\n got %+v\nwant %+v", *j, want)
	}
	if j.Location() != time.UTC {
		t.Errorf("Location = %v, want UTC", j.Location())
	}
	if (cfg.History != jobs.HistoryConfig{}) {
		t.Errorf("History = %+v, want keep forever", cfg.History)
	}
}

func TestParseAliasesAndScalars(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, `
jobs:
  - name: a
    schedule: "  0   3 * * *  "
    command: [echo, 42, true, 1.5, 2026-01-02]
    env: &env {A: 1}
    retries: 0x2
  - name: b
    schedule: "@daily"
    shell: "true"
    env: *env
`)
	a, b := cfg.Jobs[0], cfg.Jobs[1]
	if want := []string{"echo", "42", "true", "1.5", "2026-01-02"}; !reflect.DeepEqual(a.Command, want) {
		t.Errorf("Command = %q, want %q", a.Command, want)
	}
	if a.Retries != 2 || a.Schedule != "0 3 * * *" {
		t.Errorf("Retries %d, Schedule %q", a.Retries, a.Schedule)
	}
	if b.Env["A"] != "1" {
		t.Errorf("aliased Env = %v", b.Env)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	// job builds a one-job config: the job starts on line 2, its fields
	// follow one per line from line 3 on.
	job := func(fields ...string) string {
		return "jobs:\n  - name: a\n" + strings.Join(fields, "") + "\n"
	}
	const (
		sched = "    schedule: '@daily'\n"
		cmd   = "    command: [x]\n"
	)
	tests := []struct {
		name  string
		src   string
		field string
		line  int
		msg   string
	}{
		// Syntax, shape and emptiness.
		{"empty file", "", "", 0, "empty config file"},
		{"only comments", "# nothing here\n\n", "", 0, "empty config file"},
		{"null document", "---\n", "", 1, "no jobs defined"},
		{"no jobs key", "defaults: {timeout: 5m}\n", "jobs", 1, "no jobs defined"},
		{"empty jobs", "history: {}\njobs: []\n", "jobs", 2, "no jobs defined"},
		{"null jobs", "jobs:\n", "jobs", 1, "no jobs defined"},
		{"cr line breaks", "\r\r\r0", "", 4, "expected a mapping"},
		{"syntax error after crlf", "jobs:\r\n  - name: a\r\n    schedule: \"x\r\n", "", 3, "invalid YAML"},
		{"top level list", "- name: a\n", "", 1, "expected a mapping with keys defaults, jobs, history"},
		{"jobs not a list", "jobs: {a: 1}\n", "jobs", 1, "expected a list of jobs, got a mapping"},
		{"job not a mapping", "jobs:\n  - nightly\n", "jobs[0]", 2, `got string "nightly"`},
		{"bad indentation", "jobs:\n  - name: a\n   schedule: x\n", "", 2, "invalid YAML"},
		{"tab indentation", "jobs:\n  - name: a\n\tschedule: x\n", "", 2, "invalid YAML"},
		{"unterminated quote", "jobs:\n  - name: a\n    schedule: \"x\n", "", 3, "invalid YAML"},
		{"unknown anchor", "jobs:\n  - name: a\n" + sched + "    command: *argv\n", "", 4, "unknown anchor"},
		{"invalid utf-8", "jobs:\n  - name: a\n    shell: \"\xff\"\n" + sched, "", 3, "invalid YAML"},
		{"two documents", job(sched, cmd) + "---\njobs: []\n", "", 6, "more than one YAML document"},

		// Unknown and repeated keys, at every level.
		{"unknown top key", job(sched, cmd) + "extra: 1\n", "extra", 6, `unknown field (want one of defaults, jobs, history, notify)`},
		{"unknown job key", job(sched, cmd, "    timout: 5m\n"), "jobs[0].timout", 5, `did you mean "timeout"?`},
		{"unknown defaults key", "defaults:\n  tz: UTC\n" + job(sched, cmd), "defaults.tz", 2, "unknown field"},
		{"unknown history key", "history: {keep: 1d, max: 3}\n" + job(sched, cmd), "history.max", 1, "unknown field"},
		{"unknown http key", job(sched, "    http: {url: 'http://x', verb: GET}\n"), "jobs[0].http.verb", 4, "unknown field"},
		{"merge key", job(sched, cmd, "    <<: {retries: 1}\n"), "jobs[0]", 5, "merge keys (<<) are not supported"},
		{"repeated key", job(sched, cmd, "    retries: 1\n    retries: 2\n"), "jobs[0].retries", 6, "set twice (first at line 5)"},
		{"repeated env key", job(sched, cmd, "    env: {A: x, A: y}\n"), "jobs[0].env.A", 5, "set twice"},

		// Types.
		{"retries not int", job(sched, cmd, "    retries: three\n"), "jobs[0].retries", 5, `expected an integer, got string "three"`},
		{"retries float", job(sched, cmd, "    retries: 1.5\n"), "jobs[0].retries", 5, "expected an integer, got number 1.5"},
		{"retries huge", job(sched, cmd, "    retries: 99999999999999999999\n"), "jobs[0].retries", 5, "expected an integer"},
		{"command not list", job(sched, "    command: make report\n"), "jobs[0].command", 4, "expected an argv list"},
		{"command element list", job(sched, "    command: [make, [a]]\n"), "jobs[0].command[1]", 4, "expected a string, got a list"},
		{"env not mapping", job(sched, cmd, "    env: [A]\n"), "jobs[0].env", 5, "expected a mapping of strings"},
		{"env value null", job(sched, cmd, "    env: {A: ~}\n"), "jobs[0].env.A", 5, "expected a string, got nothing"},
		{"env name with =", job(sched, cmd, "    env: {\"A=B\": x}\n"), "jobs[0].env", 5, `invalid variable name "A=B"`},
		{"paused yes", job(sched, cmd, "    paused: yes\n"), "jobs[0].paused", 5, "expected true or false"},
		{"name not string", job(sched, cmd) + "  - name: [b]\n" + sched + cmd, "jobs[1].name", 6, "expected a string, got a list"},
		{"custom tag", job(sched, "    shell: !secret x\n"), "jobs[0].shell", 4, "expected a string"},
		{"defaults not mapping", "defaults: 5\n" + job(sched, cmd), "defaults", 1, "expected a mapping"},

		// Durations and numbers.
		{"bad duration", job(sched, cmd, "    timeout: 5 minutes\n"), "jobs[0].timeout", 5, `invalid duration "5 minutes"`},
		{"duration no unit", job(sched, cmd, "    timeout: 30\n"), "jobs[0].timeout", 5, "missing unit"},
		{"duration bad unit", job(sched, cmd, "    jitter: 2w\n"), "jobs[0].jitter", 5, "unknown unit"},
		{"negative duration", job(sched, cmd, "    retry_backoff: -5s\n"), "jobs[0].retry_backoff", 5, "must not be negative"},
		{"zero timeout", job(sched, cmd, "    timeout: 0s\n"), "jobs[0].timeout", 5, "must be positive"},
		{"duration mapping", job(sched, cmd, "    catchup_window: {h: 1}\n"), "jobs[0].catchup_window", 5, "expected a duration"},
		{"bad history keep", "history:\n  keep: 1y\n" + job(sched, cmd), "history.keep", 2, "invalid duration"},
		{"negative retries", job(sched, cmd, "    retries: -1\n"), "jobs[0].retries", 5, "must not be negative"},
		{"too many retries", job(sched, cmd, "    retries: 5000\n"), "jobs[0].retries", 5, "at most 1000"},
		{"negative max_concurrency", "defaults: {max_concurrency: -2}\n" + job(sched, cmd), "defaults.max_concurrency", 1, "must not be negative"},
		{"negative keep_per_job", "history: {keep_per_job: -1}\n" + job(sched, cmd), "history.keep_per_job", 1, "must not be negative"},

		// Schedules and zones.
		{"four fields", job("    schedule: \"* * * *\"\n", cmd), "jobs[0].schedule", 3, `expected exactly 5 fields, found 4: "* * * *"`},
		{"bad minute", job("    schedule: \"61 * * * *\"\n", cmd), "jobs[0].schedule", 3, `minute field "61"`},
		{"cron tz prefix", job("    schedule: \"CRON_TZ=UTC 0 0 * * *\"\n", cmd), "jobs[0].schedule", 3, "set the timezone field instead"},
		{"every too short", job("    schedule: \"@every 100ms\"\n", cmd), "jobs[0].schedule", 3, "below the minimum of 1s"},
		{"never fires", job("    schedule: \"0 0 30 2 *\"\n", cmd), "jobs[0].schedule", 3, "never fires"},
		{"missing schedule", job(cmd), "jobs[0].schedule", 2, "missing required field"},
		{"unknown zone", job(sched, cmd, "    timezone: Mars/Olympus\n"), "jobs[0].timezone", 5, `unknown time zone "Mars/Olympus"`},
		{"local zone", job(sched, cmd, "    timezone: Local\n"), "jobs[0].timezone", 5, "IANA name"},
		{"bad default zone reported once", "defaults: {timezone: Nowhere/City}\n" + job(sched, cmd) + "  - name: b\n" + sched + cmd,
			"defaults.timezone", 1, `unknown time zone "Nowhere/City"`},

		// Names.
		{"missing name", "jobs:\n  - schedule: '@daily'\n" + cmd, "jobs[0].name", 2, "missing required field"},
		{"upper-case name", "jobs:\n  - name: Nightly\n" + sched + cmd, "jobs[0].name", 2, `invalid job name "Nightly"`},
		{"name with space", "jobs:\n  - name: a b\n" + sched + cmd, "jobs[0].name", 2, "invalid job name"},
		{"name leading dash", "jobs:\n  - name: -a\n" + sched + cmd, "jobs[0].name", 2, "invalid job name"},
		{"name too long", "jobs:\n  - name: " + strings.Repeat("a", 201) + "\n" + sched + cmd, "jobs[0].name", 2, "longer than 200"},
		{"duplicate name", job(sched, cmd) + "  - name: b\n" + sched + cmd + "  - name: a\n" + sched + cmd,
			"jobs[2].name", 9, `duplicate job name "a" (first defined at line 2)`},

		// Executors.
		{"no executor", job(sched), "jobs[0]", 2, "no executor: set exactly one of command, shell, http"},
		{"two executors", job(sched, cmd, "    shell: make\n"), "jobs[0]", 5, "more than one executor (command, shell)"},
		{"three executors", job(sched, "    http: {url: 'http://x'}\n", cmd, "    shell: make\n"), "jobs[0]", 5, "(http, command, shell)"},
		{"empty command", job(sched, "    command: []\n"), "jobs[0].command", 4, "empty command"},
		{"empty program", job(sched, "    command: ['', x]\n"), "jobs[0].command[0]", 4, "empty program name"},
		{"blank shell", job(sched, "    shell: '  '\n"), "jobs[0].shell", 4, "empty shell command"},
		{"null shell", job(sched, "    shell:\n"), "jobs[0].shell", 4, "expected a string, got nothing"},
		{"null http", job(sched, "    http:\n"), "jobs[0].http", 4, "expected a mapping"},
		{"http without url", job(sched, "    http: {method: POST}\n"), "jobs[0].http.url", 4, "missing required field"},
		{"http ftp url", job(sched, "    http: {url: 'ftp://host/x'}\n"), "jobs[0].http.url", 4, "must start with http:// or https://"},
		{"http relative url", job(sched, "    http: {url: '/hook'}\n"), "jobs[0].http.url", 4, "must start with http://"},
		{"http no host", job(sched, "    http: {url: 'http://'}\n"), "jobs[0].http.url", 4, "has no host"},
		{"http bad url", job(sched, "    http: {url: 'http://[::1'}\n"), "jobs[0].http.url", 4, "invalid url"},
		{"http bad method", job(sched, "    http: {url: 'http://x', method: FETCH}\n"), "jobs[0].http.method", 4, `unknown method "FETCH"`},
		{"http code too low", job(sched, "    http: {url: 'http://x', success: [200, 99]}\n"), "jobs[0].http.success[1]", 4, "status code 99 outside 100-599"},
		{"http code too high", job(sched, "    http: {url: 'http://x', success: [600]}\n"), "jobs[0].http.success[0]", 4, "outside 100-599"},
		{"http code string", job(sched, "    http: {url: 'http://x', success: [ok]}\n"), "jobs[0].http.success[0]", 4, "expected an integer"},
		{"http success scalar", job(sched, "    http: {url: 'http://x', success: 200}\n"), "jobs[0].http.success", 4, "expected a list of status codes"},
		{"http header name", job(sched, "    http:\n      url: 'http://x'\n      headers: {'Bad Header': x}\n"), "jobs[0].http.headers.Bad Header", 6, "invalid header name"},
		{"http header twice", job(sched, "    http:\n      url: 'http://x'\n      headers: {X-A: x, x-a: y}\n"), "jobs[0].http.headers.x-a", 6, "header set twice"},
		{"http header newline", job(sched, "    http:\n      url: 'http://x'\n      headers: {X-A: \"a\\r\\nX-B: b\"}\n"), "jobs[0].http.headers.X-A", 6, "line breaks"},

		// Alerts and notify.
		{"alert_late no unit", job(sched, cmd, "    alert_late: 5\n"), "jobs[0].alert_late", 5, "missing unit"},
		{"negative alert_late", "defaults: {alert_late: -1m}\n" + job(sched, cmd), "defaults.alert_late", 1, "must not be negative"},
		{"alert_failures string", job(sched, cmd, "    alert_failures: many\n"), "jobs[0].alert_failures", 5, `expected an integer, got string "many"`},
		{"negative alert_failures", "defaults:\n  alert_failures: -3\n" + job(sched, cmd), "defaults.alert_failures", 2, "must not be negative"},
		{"too many alert_failures", job(sched, cmd, "    alert_failures: 1001\n"), "jobs[0].alert_failures", 5, "at most 1000"},
		{"misspelt alert key", job(sched, cmd, "    alert_failure: 3\n"), "jobs[0].alert_failure", 5, `did you mean "alert_failures"?`},
		{"notify not mapping", job(sched, cmd) + "notify: http://hook\n", "notify", 6, `expected a mapping with keys webhook, headers, timeout, retries, got string "http://hook"`},
		{"unknown notify key", "notify:\n  webhook: 'http://hook/x'\n  url: 'http://hook/y'\n" + job(sched, cmd), "notify.url", 3, "unknown field"},
		{"notify webhook ftp", "notify:\n  webhook: 'ftp://hook/x'\n" + job(sched, cmd), "notify.webhook", 2, "must start with http:// or https://"},
		{"notify webhook no host", "notify: {webhook: 'https://'}\n" + job(sched, cmd), "notify.webhook", 1, "has no host"},
		{"notify webhook empty", "notify: {webhook: ''}\n" + job(sched, cmd), "notify.webhook", 1, "must start with http://"},
		{"notify webhook list", "notify: {webhook: [a]}\n" + job(sched, cmd), "notify.webhook", 1, "expected a string, got a list"},
		{"notify header name", "notify:\n  webhook: 'http://hook'\n  headers: {'X Token': x}\n" + job(sched, cmd), "notify.headers.X Token", 3, "invalid header name"},
		{"notify header newline", "notify:\n  webhook: 'http://hook'\n  headers: {X-T: \"a\\nb\"}\n" + job(sched, cmd), "notify.headers.X-T", 3, "line breaks"},
		{"notify zero timeout", "notify:\n  webhook: 'http://hook'\n  timeout: 0s\n" + job(sched, cmd), "notify.timeout", 3, "must be positive"},
		{"notify bad timeout", "notify: {timeout: soon}\n" + job(sched, cmd), "notify.timeout", 1, `invalid duration "soon"`},
		{"notify negative retries", "notify: {retries: -1}\n" + job(sched, cmd), "notify.retries", 1, "must not be negative"},
		{"notify too many retries", "notify: {retries: 11}\n" + job(sched, cmd), "notify.retries", 1, "at most 10"},

		// Policies.
		{"bad concurrency", job(sched, cmd, "    concurrency: sometimes\n"), "jobs[0].concurrency", 5, `unknown value "sometimes" (want one of allow, forbid, replace)`},
		{"bad misfire", "defaults:\n  misfire: always\n" + job(sched, cmd), "defaults.misfire", 2, `unknown value "always" (want one of skip, run_once, run_all)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrors(t, tc.src)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), (&ConfigError{Errors: errs}).Error())
			}
			e := errs[0]
			if e.File != "tock.yaml" || e.Field != tc.field || e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got  %s (field %q, line %d)\nwant field %q, line %d, message containing %q", e.Error(), e.Field, e.Line, tc.field, tc.line, tc.msg)
			}
			if tc.field != "" && e.Column < 1 {
				t.Errorf("column %d, want > 0", e.Column)
			}
		})
	}
}

// TestParseFiveMistakes: every problem in a file is reported, each with its line.
func TestParseFiveMistakes(t *testing.T) {
	t.Parallel()
	src := `defaults:
  timeout: 10q                 # 2: bad duration
jobs:
  - name: backup
    schedule: "0 3 * * *"
    command: [/usr/bin/backup]
    retries: -1                # 7: negative number
  - name: report
    schedule: "* * * *"        # 9: four fields
    timezone: Europe/Atlantis  # 10: unknown zone
    shell: make report
  - name: backup               # 12: duplicate name
    schedule: "@daily"
    http: {url: "http://svc/hook", verbose: true}   # 14: unknown key
`
	errs := parseErrors(t, src)
	want := []struct {
		line  int
		field string
		msg   string
	}{
		{2, "defaults.timeout", `invalid duration "10q"`},
		{7, "jobs[0].retries", "must not be negative"},
		{9, "jobs[1].schedule", `expected exactly 5 fields, found 4: "* * * *"`},
		{10, "jobs[1].timezone", `unknown time zone "Europe/Atlantis"`},
		{12, "jobs[2].name", `duplicate job name "backup" (first defined at line 4)`},
		{14, "jobs[2].http.verbose", "unknown field"},
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), (&ConfigError{Errors: errs}).Error())
	}
	for i, w := range want {
		e := errs[i]
		if e.Line != w.line || e.Field != w.field || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("error %d = %s, want line %d, field %s, message containing %q", i, e.Error(), w.line, w.field, w.msg)
		}
	}
}

func TestConfigErrorFormat(t *testing.T) {
	t.Parallel()
	src := "jobs:\n" + strings.Repeat("  - name: j\n    schedule: '@daily'\n    shell: x\n", 0) +
		"  - name: a\n    schedule: '@daily'\n    shell: x\n" +
		"  - name: b\n    schedule: '@daily'\n    shell: x\n" +
		"\n\n\n\n\n" +
		"  - name: c\n    schedule: \"* * * *\"\n    shell: x\n" +
		"  - name: d\n    schedule: '@daily'\n"
	_, err := Parse("tock.yaml", []byte(src))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	want := "tock.yaml:14: jobs[2].schedule: expected exactly 5 fields, found 4: \"* * * *\"\n" +
		"tock.yaml:16: jobs[3]: no executor: set exactly one of command, shell, http"
	if err.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", err, want)
	}
	var fe FieldError
	if !errors.As(err, &fe) || fe.Line != 14 {
		t.Errorf("errors.As FieldError = %+v", fe)
	}
	if got := (FieldError{File: "tock.yaml", Msg: "empty config file"}).Error(); got != "tock.yaml: empty config file" {
		t.Errorf("file-level error = %q", got)
	}
}

func TestJobDigest(t *testing.T) {
	t.Parallel()
	const base = `jobs:
  - name: a
    schedule: "0 3 * * *"
    command: [make, report]
    env: {A: "1", B: "2"}
`
	digest := func(src string) string {
		t.Helper()
		return mustParse(t, src).Jobs[0].Digest
	}
	d0 := digest(base)
	if len(d0) != 32 {
		t.Fatalf("digest %q, want 32 hex digits", d0)
	}

	same := map[string]string{
		"comments and blank lines": "# header\n\n" + strings.Replace(base, "  - name: a\n", "  - name: a   # the job\n\n", 1),
		"key order":                "jobs:\n  - env: {B: \"2\", A: \"1\"}\n    command: [make, report]\n    schedule: \"0 3 * * *\"\n    name: a\n",
		"paused":                   base + "    paused: true\n",
		"defaults spelled out":     "defaults: {timeout: 30m, timezone: UTC, concurrency: forbid}\n" + base,
		"spec white space":         strings.Replace(base, `"0 3 * * *"`, `"0  3 * *   *"`, 1),
	}
	for name, src := range same {
		if d := digest(src); d != d0 {
			t.Errorf("%s changed the digest", name)
		}
	}

	changed := map[string]string{
		"name":              strings.Replace(base, "name: a", "name: b", 1),
		"schedule":          strings.Replace(base, `"0 3 * * *"`, `"0 4 * * *"`, 1),
		"timezone":          base + "    timezone: Europe/Berlin\n",
		"default timezone":  "defaults: {timezone: Asia/Tokyo}\n" + base,
		"argv":              strings.Replace(base, "[make, report]", "[make, report2]", 1),
		"argv split":        strings.Replace(base, "[make, report]", "[make report]", 1),
		"shell":             strings.Replace(base, "command: [make, report]", "shell: make report", 1),
		"http":              strings.Replace(base, "command: [make, report]", "http: {url: 'http://x/'}", 1),
		"env value":         strings.Replace(base, `B: "2"`, `B: "3"`, 1),
		"env key":           strings.Replace(base, `B: "2"`, `C: "2"`, 1),
		"env entry shifted": strings.Replace(base, `{A: "1", B: "2"}`, `{A: "1B", "": "2"}`, 1),
		"timeout":           base + "    timeout: 5m\n",
		"default timeout":   "defaults: {timeout: 7m}\n" + base,
		"retries":           base + "    retries: 2\n",
		"retry_backoff":     base + "    retry_backoff: 1s\n",
		"retry_backoff_max": base + "    retry_backoff_max: 1h\n",
		"concurrency":       base + "    concurrency: allow\n",
		"max_concurrency":   base + "    max_concurrency: 3\n",
		"misfire":           base + "    misfire: skip\n",
		"catchup_window":    base + "    catchup_window: 3h\n",
		"jitter":            base + "    jitter: 1s\n",
	}
	seen := map[string]string{d0: "base"}
	for name, src := range changed {
		cfg, err := Parse("tock.yaml", []byte(src))
		if err != nil {
			if name == "env entry shifted" {
				continue // an empty variable name is rejected, which is fine too
			}
			t.Fatalf("%s: %v", name, err)
		}
		d := cfg.Jobs[0].Digest
		if other, dup := seen[d]; dup {
			t.Errorf("%s: digest equals that of %s", name, other)
		}
		seen[d] = name
	}

	httpBase := "jobs:\n  - name: h\n    schedule: '@hourly'\n    http: {url: 'http://x/', method: POST, headers: {A: b}, body: x, success: [200, 204]}\n"
	h0 := digest(httpBase)
	if d := digest(strings.Replace(httpBase, "[200, 204]", "[204, 200]", 1)); d != h0 {
		t.Error("success code order changed the digest")
	}
	if d := digest(strings.Replace(httpBase, "method: POST", "method: post", 1)); d != h0 {
		t.Error("method case changed the digest")
	}
	for _, change := range [][2]string{
		{"method: POST", "method: PUT"}, {"'http://x/'", "'http://y/'"}, {"{A: b}", "{A: c}"},
		{"body: x", "body: y"}, {"[200, 204]", "[200]"},
	} {
		if d := digest(strings.Replace(httpBase, change[0], change[1], 1)); d == h0 {
			t.Errorf("changing %s to %s kept the digest", change[0], change[1])
		}
	}
}

func TestConfigDigest(t *testing.T) {
	t.Parallel()
	const jobA = "  - name: a\n    schedule: '@daily'\n    shell: x\n"
	const jobB = "  - name: b\n    schedule: '@hourly'\n    shell: y\n"
	d0 := mustParse(t, "jobs:\n"+jobA+jobB).Digest
	if d := mustParse(t, "jobs:\n"+jobB+jobA).Digest; d != d0 {
		t.Error("job order changed the config digest")
	}
	if d := mustParse(t, "jobs:\n"+jobA+jobB+"    paused: true\n").Digest; d != d0 {
		t.Error("pausing a job changed the config digest")
	}
	for name, src := range map[string]string{
		"job changed":  "jobs:\n" + jobA + strings.Replace(jobB, "shell: y", "shell: z", 1),
		"job removed":  "jobs:\n" + jobA,
		"history":      "history: {keep: 7d}\njobs:\n" + jobA + jobB,
		"keep_per_job": "history: {keep_per_job: 5}\njobs:\n" + jobA + jobB,
	} {
		if d := mustParse(t, src).Digest; d == d0 {
			t.Errorf("%s kept the config digest", name)
		}
	}
}

func TestParseAlertsAndNotify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		src      string
		late     map[string]time.Duration
		failures map[string]int
		notify   jobs.NotifyConfig
	}{
		{
			name: "off by default",
			src:  "jobs:\n  - {name: a, schedule: '@daily', shell: x}\n",
			late: map[string]time.Duration{"a": 0}, failures: map[string]int{"a": 0},
			notify: jobs.NotifyConfig{Timeout: jobs.DefaultNotifyTimeout, Retries: jobs.DefaultNotifyRetries},
		},
		{
			name: "defaults inherited and overridden",
			src: `defaults: {alert_late: 5m, alert_failures: 3}
notify:
  webhook: "https://alerts.example.com/tock?team=ops"
  headers: {Authorization: "Bearer s3cret", X-Source: tock}
  timeout: 2s
  retries: 0
jobs:
  - {name: inherits, schedule: '@daily', shell: x}
  - {name: own, schedule: '@daily', shell: x, alert_late: 1d, alert_failures: 1}
  - {name: off, schedule: '@daily', shell: x, alert_late: 0s, alert_failures: 0}
`,
			late:     map[string]time.Duration{"inherits": 5 * time.Minute, "own": 24 * time.Hour, "off": 0},
			failures: map[string]int{"inherits": 3, "own": 1, "off": 0},
			notify: jobs.NotifyConfig{Webhook: "https://alerts.example.com/tock?team=ops",
				Headers: map[string]string{"Authorization": "Bearer s3cret", "X-Source": "tock"}, Timeout: 2 * time.Second},
		},
		{
			name: "empty notify block keeps its defaults",
			src:  "notify:\njobs:\n  - {name: a, schedule: '@daily', shell: x, alert_failures: 1000}\n",
			late: map[string]time.Duration{"a": 0}, failures: map[string]int{"a": MaxAlertFailures},
			notify: jobs.NotifyConfig{Timeout: jobs.DefaultNotifyTimeout, Retries: jobs.DefaultNotifyRetries},
		},
		{
			name:     "notify with a webhook only",
			src:      "notify: {webhook: 'http://127.0.0.1:9093/hook', retries: 10}\njobs:\n  - {name: a, schedule: '@daily', shell: x}\n",
			late:     map[string]time.Duration{"a": 0},
			failures: map[string]int{"a": 0},
			notify:   jobs.NotifyConfig{Webhook: "http://127.0.0.1:9093/hook", Timeout: jobs.DefaultNotifyTimeout, Retries: MaxNotifyRetries},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, tc.src)
			for name, want := range tc.late {
				if got := cfg.Job(name).AlertLate; got != want {
					t.Errorf("%s: AlertLate = %v, want %v", name, got, want)
				}
			}
			for name, want := range tc.failures {
				if got := cfg.Job(name).AlertFailures; got != want {
					t.Errorf("%s: AlertFailures = %d, want %d", name, got, want)
				}
			}
			if !reflect.DeepEqual(cfg.Notify, tc.notify) {
				t.Errorf("Notify = %+v, want %+v", cfg.Notify, tc.notify)
			}
		})
	}
}

// TestAlertSettingsDigest: alert settings never change a job's digest (a
// worker must keep running the job while its alerts are tuned, I7), but the
// config digest flags replicas that would alert differently as leader.
func TestAlertSettingsDigest(t *testing.T) {
	t.Parallel()
	const base = "jobs:\n  - {name: a, schedule: '@daily', shell: x}\n"
	const alerting = "jobs:\n  - {name: a, schedule: '@daily', shell: x, alert_failures: 2}\n"
	const hook = "notify: {webhook: 'http://hook/a'}\n"
	b := mustParse(t, base)
	for name, src := range map[string]string{
		"alert_late":       "jobs:\n  - {name: a, schedule: '@daily', shell: x, alert_late: 1m}\n",
		"alert_failures":   alerting,
		"default alerts":   "defaults: {alert_late: 1h, alert_failures: 5}\n" + base,
		"notify":           hook + alerting,
		"notify headers":   "notify: {webhook: 'http://hook/a', headers: {X-A: b}}\n" + alerting,
		"notify timeout":   "notify: {timeout: 3s}\n" + alerting,
		"notify retries":   "notify: {retries: 1}\n" + alerting,
		"notify elsewhere": "notify: {webhook: 'http://hook/b'}\n" + alerting,
	} {
		if d := mustParse(t, src).Jobs[0].Digest; d != b.Jobs[0].Digest {
			t.Errorf("%s changed the job digest", name)
		}
	}

	if d := mustParse(t, hook+base).Digest; d != b.Digest {
		t.Error("a notify block without any alert changed the config digest")
	}
	seen := map[string]string{b.Digest: "base"}
	for _, c := range []struct{ name, src string }{
		{"alert_failures", alerting},
		{"alert_failures 3", strings.Replace(alerting, "alert_failures: 2", "alert_failures: 3", 1)},
		{"alert_late", "jobs:\n  - {name: a, schedule: '@daily', shell: x, alert_late: 1m}\n"},
		{"both", "jobs:\n  - {name: a, schedule: '@daily', shell: x, alert_late: 1m, alert_failures: 2}\n"},
		{"webhook", hook + alerting},
		{"other webhook", "notify: {webhook: 'http://hook/b'}\n" + alerting},
		{"headers", "notify: {webhook: 'http://hook/a', headers: {X-A: b}}\n" + alerting},
		{"timeout", "notify: {webhook: 'http://hook/a', timeout: 3s}\n" + alerting},
		{"retries", "notify: {webhook: 'http://hook/a', retries: 1}\n" + alerting},
	} {
		d := mustParse(t, c.src).Digest
		if other, dup := seen[d]; dup {
			t.Errorf("%s: config digest equals that of %s", c.name, other)
		}
		seen[d] = c.name
	}
	// Job order does not matter for alert settings either.
	two := "jobs:\n  - {name: a, schedule: '@daily', shell: x, alert_late: 1m}\n  - {name: b, schedule: '@daily', shell: y, alert_failures: 2}\n"
	swapped := "jobs:\n  - {name: b, schedule: '@daily', shell: y, alert_failures: 2}\n  - {name: a, schedule: '@daily', shell: x, alert_late: 1m}\n"
	if mustParse(t, two).Digest != mustParse(t, swapped).Digest {
		t.Error("job order changed the config digest of alert settings")
	}
}

// Aliases cannot make a small file cost more work than a big one: the node
// budget grows with the file's size, not with what aliases expand to.
func TestAliasExpansionBudget(t *testing.T) {
	defer func(v int) { nodeBudgetBase = v }(nodeBudgetBase)
	nodeBudgetBase = 10000
	var b strings.Builder
	b.WriteString("defaults:\n  env: &e {")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "K%d: v, ", i)
	}
	b.WriteString("}\njobs:\n")
	for i := 0; i < 600; i++ {
		fmt.Fprintf(&b, "  - {name: j%d, schedule: '@hourly', command: [\"true\"], env: *e}\n", i)
	}
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("err = %v, want the node budget spent", err)
	}
	// The same jobs written out (no aliases) are fine however many there are.
	b.Reset()
	b.WriteString("jobs:\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "  - {name: j%d, schedule: '@hourly', command: [\"true\"]}\n", i)
	}
	cfg, err := Parse("big.yaml", []byte(b.String()))
	if err != nil || len(cfg.Jobs) != 3000 {
		t.Fatalf("3000 literal jobs (about 30k nodes, more than the base budget): %v", err)
	}
}

// TestDigestsStable pins the digests of the shipped configs: workers of
// different versions must agree on them (I7), so a change to how they are
// computed must not change a single one.
func TestDigestsStable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		path, digest string
		jobs         map[string]string
	}{
		{filepath.Join("testdata", "valid.yaml"), "83675d63fe3e102bf5c91b0e759cbeab", map[string]string{
			"nightly-report": "662e8851ab9ee4e47604853b27f31469", "db.backup": "105069beef9f681308207a9bc2e88712",
			"ping_upstream": "491c109fd4d42341240a1b7e7b242c14", "cache-warm": "44dcc256d3a571417a5628ec5041d331",
			"monthly-invoices": "b085f039cbeff53e8ccc7d5acfb3e432"}},
		{filepath.Join("..", "..", "examples", "tock.yaml"), "1c03d3a4b5e0c85f2f73df0faa6d5796", map[string]string{
			"heartbeat": "b5ff2e191c7f953194ff54a9ca1c297b", "load-average": "2c8ffaa7a30043bfc62b4448ae158911",
			"disk-usage": "a94d8e6c18c4f4ee1818b904c38e3e96", "flaky-check": "b96c7cc762baa4b01105657f352b38be",
			"tmp-cleanup": "b241eb6ce840c78865458e345decd659", "nightly-report": "557a4547e0e26c8bd3e0224c66b30a2e",
			"weekly-summary": "88dc430782ec1648b1804dbfc246f561"}},
	} {
		cfg, err := Load(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Digest != c.digest || len(cfg.Jobs) != len(c.jobs) {
			t.Errorf("%s: digest %s with %d jobs, want %s with %d", c.path, cfg.Digest, len(cfg.Jobs), c.digest, len(c.jobs))
		}
		for _, j := range cfg.Jobs {
			if j.Digest != c.jobs[j.Name] {
				t.Errorf("%s: job %s digest %s, want %s", c.path, j.Name, j.Digest, c.jobs[j.Name])
			}
		}
	}
	if cfg, err := Parse("scale.yaml", scaleConfig(1000)); err != nil || cfg.Digest != "8da40fd54b97ea80be46890e56edc2fd" {
		t.Errorf("scale config: %v, digest %v", err, cfg)
	}
}
