package api

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// paramsConfig is the fixture's config with params on backup.
const paramsConfig = apitest.ConfigYAML + `
  - name: params
    schedule: "@daily"
    command: ["/bin/true"]
    params:
      - {name: day, default: "2026-01-01", pattern: '\d{4}-\d{2}-\d{2}'}
      - {name: customer}
`

func countRuns(t *testing.T, f *fixture, job string) int {
	t.Helper()
	runs, err := f.store.ListRuns(context.Background(), storage.RunFilter{Job: job, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(runs)
}

func TestTriggerParamsAndAt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.cfg = apitest.MustConfig(t, paramsConfig)
	srv := f.server(Auth{})
	ctx := context.Background()

	var run jobs.Run
	resp := do(t, "POST", srv.URL+"/api/v1/jobs/params/trigger", "", strings.NewReader(`{"params": {"customer": "acme"}}`), &run)
	if resp.StatusCode != http.StatusAccepted || !maps.Equal(run.Params, map[string]string{"customer": "acme"}) {
		t.Fatalf("trigger with params: %d %+v", resp.StatusCode, run)
	}
	stored, _, err := f.store.GetRun(ctx, run.ID)
	if err != nil || !maps.Equal(stored.Params, run.Params) || !stored.ScheduledAt.Equal(t0) {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	woke := f.waker.n.Load()

	resp = do(t, "POST", srv.URL+"/api/v1/jobs/params/trigger", "", strings.NewReader(`{"params": {"customer": "acme"}, "at": "+10m"}`), &run)
	if resp.StatusCode != http.StatusAccepted || !run.ScheduledAt.Equal(t0.Add(10*time.Minute)) || !run.NotBefore.Equal(run.ScheduledAt) ||
		run.Status != jobs.StatusScheduled || !run.CreatedAt.Equal(t0) {
		t.Fatalf("trigger at +10m: %d %+v", resp.StatusCode, run)
	}
	if f.waker.n.Load() != woke {
		t.Error("a trigger for later woke the scheduler")
	}
	at := t0.Add(2 * time.Hour).Format(time.RFC3339)
	if resp = do(t, "POST", srv.URL+"/api/v1/jobs/backup/trigger", "", strings.NewReader(`{"at": "`+at+`"}`), &run); resp.StatusCode != http.StatusAccepted ||
		!run.ScheduledAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("trigger at %s: %d %+v", at, resp.StatusCode, run)
	}
	// A time a little in the past runs now.
	past := t0.Add(-time.Hour).Format(time.RFC3339)
	if resp = do(t, "POST", srv.URL+"/api/v1/jobs/backup/trigger", "", strings.NewReader(`{"at": "`+past+`"}`), &run); resp.StatusCode != http.StatusAccepted ||
		!run.ScheduledAt.Equal(t0) {
		t.Fatalf("trigger at %s: %d %+v", past, resp.StatusCode, run)
	}

	before := countRuns(t, f, "params") + countRuns(t, f, "backup")
	for _, tc := range []struct{ job, body, param, msg string }{
		{"params", `{"params": {"day": "tomorrow", "customer": "x"}}`, "params.day", `does not match pattern`},
		{"params", `{"params": {"customer": "x", "PATH": "/tmp"}}`, "params.PATH", "not declared by the job (declared: day, customer)"},
		{"params", `{}`, "params.customer", "required"},
		{"params", `{"params": {"customer": "a\u0000b"}}`, "params.customer", "NUL"},
		{"backup", `{"params": {"x": "1"}}`, "params.x", "the job declares no params"},
		{"backup", `{"at": "tomorrow"}`, "at", "neither an RFC 3339 time"},
		{"backup", `{"at": "2020-01-01T00:00:00Z"}`, "at", "in the past"},
		{"backup", `{"at": "+400d"}`, "at", "ahead"},
		{"backup", `{"when": "+1m"}`, "body", "unknown field"},
		{"backup", `{"at": "+1m"} {}`, "body", "more than one JSON value"},
	} {
		var e ErrorBody
		resp := do(t, "POST", srv.URL+"/api/v1/jobs/"+tc.job+"/trigger", "", strings.NewReader(tc.body), &e)
		if resp.StatusCode != http.StatusBadRequest || e.Param != tc.param || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s %s: %d %+v, want 400 param %s containing %q", tc.job, tc.body, resp.StatusCode, e, tc.param, tc.msg)
		}
	}
	if after := countRuns(t, f, "params") + countRuns(t, f, "backup"); after != before {
		t.Errorf("refused triggers stored %d runs", after-before)
	}
	// The job view lists the declared params for trigger forms.
	var j Job
	if resp := do(t, "GET", srv.URL+"/api/v1/jobs/params", "", nil, &j); resp.StatusCode != 200 || len(j.Params) != 2 || j.Params[1].Name != "customer" || j.Params[1].Default != nil {
		t.Errorf("job view params = %+v", j.Params)
	}
}

func TestBackfillAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	// backup runs every 5 minutes and has schedule rows at t0-50m, -45m
	// and -40m (its cursor). From t0-60m to t0-30m: 7 ticks; -60 and -55
	// are created, -50..-40 present, -35 and -30 left to the scheduler.
	body := `{"from": "` + t0.Add(-time.Hour).Format(time.RFC3339) + `", "to": "30m", "max_concurrent": 1}`
	var dry Backfill
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/backfill", "", strings.NewReader(strings.Replace(body, "}", `, "dry_run": true}`, 1)), &dry); resp.StatusCode != http.StatusOK ||
		dry.Ticks != 7 || dry.Created != 2 || dry.Present != 3 || dry.LeftToScheduler != 2 || dry.ID != 0 || !dry.DryRun {
		t.Fatalf("dry run: %d %+v", resp.StatusCode, dry)
	}
	if n := countRuns(t, f, "backup"); n != 3 {
		t.Fatalf("a dry run wrote: backup has %d runs", n)
	}
	var b Backfill
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/backfill", "", strings.NewReader(body), &b); resp.StatusCode != http.StatusCreated ||
		b.Ticks != 7 || b.Created != 2 || b.Present != 3 || b.LeftToScheduler != 2 || b.ID == 0 || b.PresentByStatus[jobs.StatusSucceeded] != 1 ||
		b.PresentByStatus[jobs.StatusFailed] != 1 || b.PresentByStatus[jobs.StatusQueued] != 1 || len(b.Examples) != 3 {
		t.Fatalf("backfill: %d %+v", resp.StatusCode, b)
	}
	var again Backfill
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/backfill", "", strings.NewReader(body), &again); resp.StatusCode != http.StatusCreated ||
		again.ID != b.ID || again.Created != 0 || again.Present != 5 || again.PresentByStatus[jobs.StatusScheduled] != 2 {
		t.Fatalf("backfill again: %d %+v", resp.StatusCode, again)
	}
	runs, err := f.store.ListRuns(context.Background(), storage.RunFilter{Job: "backup", Trigger: jobs.TriggerBackfill, Limit: 10})
	if err != nil || len(runs) != 2 || runs[0].BackfillID != b.ID || !runs[1].ScheduledAt.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("backfill runs = %+v, %v", runs, err)
	}
	var c BackfillCancel
	if resp := do(t, "POST", srv.URL+"/api/v1/backfills/"+strconv.FormatInt(b.ID, 10)+"/cancel", "", nil, &c); resp.StatusCode != http.StatusOK ||
		c.ID != b.ID || c.Canceled != 2 {
		t.Fatalf("cancel backfill: %d %+v", resp.StatusCode, c)
	}
	if resp := do(t, "POST", srv.URL+"/api/v1/backfills/"+strconv.FormatInt(b.ID+1, 10)+"/cancel", "", nil, &c); resp.StatusCode != http.StatusNotFound {
		t.Errorf("cancel of an unknown backfill: %d", resp.StatusCode)
	}
	for _, tc := range []struct{ body, param, msg string }{
		{`{"from": "1h", "to": "` + t0.Add(time.Minute).Format(time.RFC3339) + `"}`, "to", "in the future"},
		{`{"from": "1h", "to": "2h"}`, "from", "after to"},
		{`{"to": "now"}`, "from", "missing"},
		{`{"from": "1h", "to": "now", "max_concurrent": -1}`, "max_concurrent", "negative"},
		{`{"from": "400d", "to": "now"}`, "from", "the range holds 115201 ticks"},
		{`{"from": "yesterday", "to": "now"}`, "from", "neither a duration ago"},
	} {
		var e ErrorBody
		resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/backfill", "", strings.NewReader(tc.body), &e)
		if resp.StatusCode != http.StatusBadRequest || e.Param != tc.param || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s: %d %+v, want 400 param %s containing %q", tc.body, resp.StatusCode, e, tc.param, tc.msg)
		}
	}
	var e ErrorBody
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/ghost/backfill", "", strings.NewReader(`{"from": "1h", "to": "now"}`), &e); resp.StatusCode != http.StatusNotFound {
		t.Errorf("backfill of an unknown job: %d %+v", resp.StatusCode, e)
	}
	// frozen was never scheduled: it has no cursor.
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/frozen/backfill", "", strings.NewReader(`{"from": "3h", "to": "now"}`), &e); resp.StatusCode != http.StatusConflict || !strings.Contains(e.Error, "no schedule cursor") {
		t.Errorf("backfill of a job without cursor: %d %+v", resp.StatusCode, e)
	}
}
