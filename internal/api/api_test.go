package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

func TestListJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	var got JobList
	if resp := do(t, "GET", srv.URL+"/api/v1/jobs", "", nil, &got); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(got.Jobs) != 3 {
		t.Fatalf("got %d jobs, want 3", len(got.Jobs))
	}
	byName := map[string]Job{}
	for _, j := range got.Jobs {
		byName[j.Name] = j
	}
	if names := []string{got.Jobs[0].Name, got.Jobs[1].Name, got.Jobs[2].Name}; strings.Join(names, ",") != "backup,frozen,report" {
		t.Errorf("jobs not sorted by name: %v", names)
	}
	b := byName["backup"]
	if b.Schedule != "*/5 * * * *" || b.Timezone != "UTC" || b.Executor != "command" || b.Retries != 2 || b.Paused {
		t.Errorf("backup = %+v", b)
	}
	if b.NextFire == nil || !b.NextFire.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("backup next fire = %v, want %v", b.NextFire, t0.Add(5*time.Minute))
	}
	if b.LastRun == nil || b.LastRun.ID != f.queued || b.LastRun.Status != jobs.StatusQueued {
		t.Errorf("backup last run = %+v, want run %d queued", b.LastRun, f.queued)
	}
	r := byName["report"]
	if r.Timezone != "Europe/Berlin" || r.NextFire == nil || !r.NextFire.Equal(time.Date(2026, 11, 29, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("report = %+v next %v", r, r.NextFire)
	}
	if fr := byName["frozen"]; !fr.Paused || !fr.PausedInConfig || fr.LastRun != nil {
		t.Errorf("frozen = %+v", fr)
	}
}

func TestGetJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	var j Job
	if resp := do(t, "GET", srv.URL+"/api/v1/jobs/report", "", nil, &j); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if j.Name != "report" || j.LastRun == nil || j.LastRun.ID != f.missed || j.LastRun.Status != jobs.StatusMissed {
		t.Errorf("report = %+v last %+v", j, j.LastRun)
	}
	var e ErrorBody
	if resp := do(t, "GET", srv.URL+"/api/v1/jobs/nope", "", nil, &e); resp.StatusCode != 404 || !strings.Contains(e.Error, `"nope"`) {
		t.Errorf("unknown job: %d %+v", resp.StatusCode, e)
	}
	if resp := do(t, "GET", srv.URL+"/api/v1/jobs/Bad%20Name", "", nil, &e); resp.StatusCode != 400 || e.Param != "name" {
		t.Errorf("bad job name: %d %+v", resp.StatusCode, e)
	}
}

func TestTriggerPauseResume(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	ctx := context.Background()

	var run jobs.Run
	resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/trigger", "", nil, &run)
	if resp.StatusCode != http.StatusAccepted || run.ID == 0 || run.Trigger != jobs.TriggerManual || run.Job != "backup" {
		t.Fatalf("trigger: %d %+v", resp.StatusCode, run)
	}
	if loc := resp.Header.Get("Location"); loc != fmt.Sprintf("/api/v1/runs/%d", run.ID) {
		t.Errorf("Location = %q", loc)
	}
	stored, _, err := f.store.GetRun(ctx, run.ID)
	if err != nil || stored.Trigger != jobs.TriggerManual || stored.Status != jobs.StatusScheduled {
		t.Errorf("stored manual run = %+v, %v", stored, err)
	}
	if f.waker.n.Load() != 1 {
		t.Errorf("trigger woke the scheduler %d times, want 1", f.waker.n.Load())
	}

	var j Job
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/pause", "", nil, &j); resp.StatusCode != 200 || !j.Paused || j.PausedInConfig {
		t.Fatalf("pause: %d %+v", resp.StatusCode, j)
	}
	states, err := f.store.JobStates(ctx)
	if err != nil || !states["backup"].Paused {
		t.Errorf("stored state after pause = %+v, %v", states["backup"], err)
	}
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/resume", "", nil, &j); resp.StatusCode != 200 || j.Paused {
		t.Fatalf("resume: %d %+v", resp.StatusCode, j)
	}
	if states, _ = f.store.JobStates(ctx); states["backup"].Paused {
		t.Errorf("backup still paused in the store")
	}
	if f.waker.n.Load() != 3 {
		t.Errorf("woke %d times, want 3", f.waker.n.Load())
	}
	// A job paused by the config stays paused after resume.
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/frozen/resume", "", nil, &j); resp.StatusCode != 200 || !j.Paused || !j.PausedInConfig {
		t.Errorf("resume frozen: %d %+v", resp.StatusCode, j)
	}
	var e ErrorBody
	for _, action := range []string{"trigger", "pause", "resume"} {
		if resp := do(t, "POST", srv.URL+"/api/v1/jobs/ghost/"+action, "", nil, &e); resp.StatusCode != 404 {
			t.Errorf("%s of an unknown job: %d %+v", action, resp.StatusCode, e)
		}
	}
}

func TestListRunsFiltersAndCursor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	get := func(q string) RunPage {
		t.Helper()
		var p RunPage
		if resp := do(t, "GET", srv.URL+"/api/v1/runs?"+q, "", nil, &p); resp.StatusCode != 200 {
			t.Fatalf("GET /runs?%s: %d", q, resp.StatusCode)
		}
		return p
	}
	ids := func(p RunPage) []int64 {
		out := make([]int64, len(p.Runs))
		for i, r := range p.Runs {
			out[i] = r.ID
		}
		return out
	}
	all := get("")
	if len(all.Runs) != 5 || all.NextCursor != "" {
		t.Fatalf("all runs: %v next %q", ids(all), all.NextCursor)
	}
	for i := 1; i < len(all.Runs); i++ {
		if all.Runs[i].ScheduledAt.After(all.Runs[i-1].ScheduledAt) {
			t.Errorf("runs not newest first: %v", ids(all))
		}
	}
	for _, tc := range []struct {
		q    string
		want []int64
	}{
		{"job=backup", []int64{f.queued, f.failed, f.succeeded}},
		{"status=failed", []int64{f.failed}},
		{"job=report&status=missed", []int64{f.missed}},
		{"trigger=catchup", []int64{f.missed}},
		{"since=" + url.QueryEscape(t0.Add(-42*time.Minute).Format(time.RFC3339)), []int64{f.missed, f.running, f.queued}},
		{"until=" + url.QueryEscape(t0.Add(-45*time.Minute).Format(time.RFC3339)), []int64{f.succeeded}},
		{"since=46m&until=39m", []int64{f.queued, f.failed}},
		{"job=frozen", []int64{}},
	} {
		if got := ids(get(tc.q)); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("GET /runs?%s = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Walk every page of two: the same runs in the same order.
	var walked []int64
	q := "limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("cursor does not end")
		}
		p := get(q)
		walked = append(walked, ids(p)...)
		if p.NextCursor == "" {
			break
		}
		q = "limit=2&cursor=" + url.QueryEscape(p.NextCursor)
	}
	if fmt.Sprint(walked) != fmt.Sprint(ids(all)) {
		t.Errorf("paged walk %v, want %v", walked, ids(all))
	}
}

func TestGetRunAndCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	var d RunDetail
	if resp := do(t, "GET", fmt.Sprintf("%s/api/v1/runs/%d", srv.URL, f.succeeded), "", nil, &d); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d.Run.Status != jobs.StatusSucceeded || len(d.Attempts) != 1 || !strings.Contains(d.Attempts[0].Output, "<script>") ||
		d.Attempts[0].ExitCode == nil || *d.Attempts[0].ExitCode != 0 || d.Attempts[0].Epoch != 1 {
		t.Errorf("run detail = %+v", d)
	}
	var e ErrorBody
	if resp := do(t, "GET", srv.URL+"/api/v1/runs/999999", "", nil, &e); resp.StatusCode != 404 || e.Error != "run 999999 not found" {
		t.Errorf("missing run: %d %+v", resp.StatusCode, e)
	}
	if resp := do(t, "GET", srv.URL+"/api/v1/runs/abc", "", nil, &e); resp.StatusCode != 400 || e.Param != "id" {
		t.Errorf("bad id: %d %+v", resp.StatusCode, e)
	}

	var run jobs.Run
	if resp := do(t, "POST", fmt.Sprintf("%s/api/v1/runs/%d/cancel", srv.URL, f.queued), "", nil, &run); resp.StatusCode != 200 || run.Status != jobs.StatusCanceled {
		t.Errorf("cancel queued: %d %+v", resp.StatusCode, run)
	}
	if resp := do(t, "POST", fmt.Sprintf("%s/api/v1/runs/%d/cancel", srv.URL, f.running), "", nil, &run); resp.StatusCode != 202 || !run.CancelRequested || run.Status != jobs.StatusRunning {
		t.Errorf("cancel running: %d %+v", resp.StatusCode, run)
	}
	if resp := do(t, "POST", fmt.Sprintf("%s/api/v1/runs/%d/cancel", srv.URL, f.succeeded), "", nil, &e); resp.StatusCode != 409 || !strings.Contains(e.Error, "already finished") {
		t.Errorf("cancel finished: %d %+v", resp.StatusCode, e)
	}
	if resp := do(t, "POST", srv.URL+"/api/v1/runs/424242/cancel", "", nil, &e); resp.StatusCode != 404 {
		t.Errorf("cancel missing: %d %+v", resp.StatusCode, e)
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	var c Cluster
	if resp := do(t, "GET", srv.URL+"/api/v1/cluster", "", nil, &c); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if c.Leader != "node-a" || c.Epoch != 1 || c.LeaderDigest != f.nodeDigest || c.Mismatches != 1 || len(c.Nodes) != 3 || c.Lease != nil {
		t.Fatalf("cluster = %+v", c)
	}
	// With the lease row held, the cluster shows its backend and holder.
	if _, err := f.store.ClaimLease(context.Background(), storage.LeaseClaim{Node: "node-a", Token: "tok", Backend: "mysql", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if resp := do(t, "GET", srv.URL+"/api/v1/cluster", "", nil, &c); resp.StatusCode != 200 || c.Lease == nil ||
		c.Lease.Backend != "mysql" || c.Lease.Node != "node-a" || c.Lease.Until.IsZero() {
		t.Fatalf("cluster with the lease row held: %d %+v", resp.StatusCode, c.Lease)
	}
	want := map[string][4]bool{ // alive, leader, self, mismatch
		"node-a": {true, true, true, false},
		"node-b": {true, false, false, true},
		"node-c": {false, false, false, false}, // gone: not flagged
	}
	for _, n := range c.Nodes {
		if got := [4]bool{n.Alive, n.Leader, n.Self, n.DigestMismatch}; got != want[n.ID] {
			t.Errorf("node %s: alive,leader,self,mismatch = %v, want %v", n.ID, got, want[n.ID])
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{Token: "w"}) // health needs no token
	if resp := do(t, "GET", srv.URL+"/healthz", "", nil, nil); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	var rd Readiness
	if resp := do(t, "GET", srv.URL+"/readyz", "", nil, &rd); resp.StatusCode != 200 || !rd.Ready || rd.Checks.Lease.State != LeaseLeader {
		t.Errorf("readyz: %d %+v", resp.StatusCode, rd)
	}

	// An invalid config file makes the node unready, naming the check.
	cfgErr := errors.New("tock.yaml:3: jobs[0].schedule: bad")
	f.svc.opts.ConfigError = func() error { return cfgErr }
	if resp := do(t, "GET", srv.URL+"/readyz", "", nil, &rd); resp.StatusCode != 503 || rd.Ready || rd.Checks.Config.OK ||
		!strings.Contains(rd.Checks.Config.Error, "jobs[0].schedule") || !rd.Checks.Store.OK {
		t.Errorf("readyz with a bad config: %d %+v", resp.StatusCode, rd)
	}
	f.svc.opts.ConfigError = func() error { return nil }

	// Redis down: the queue check fails and names the queue, and the
	// lease backend is the store's row; the replica stays ready (it claims
	// and leads through the store).
	f.svc.opts.QueuePing = func(context.Context) error { return errors.New("dial tcp 127.0.0.1:6379: connection refused") }
	f.svc.opts.LeaseBackend = func() string { return "mysql" }
	if resp := do(t, "GET", srv.URL+"/readyz", "", nil, &rd); resp.StatusCode != 200 || !rd.Ready || rd.Checks.Queue == nil ||
		rd.Checks.Queue.OK || !strings.Contains(rd.Checks.Queue.Error, "Redis") || !rd.Checks.Store.OK || rd.Checks.Lease.Backend != "mysql" {
		t.Errorf("readyz with Redis down: %d %+v", resp.StatusCode, rd)
	}
	f.svc.opts.QueuePing = func(context.Context) error { return nil }
	if resp := do(t, "GET", srv.URL+"/readyz", "", nil, &rd); resp.StatusCode != 200 || rd.Checks.Queue == nil || !rd.Checks.Queue.OK {
		t.Errorf("readyz with the queue back: %d %+v", resp.StatusCode, rd)
	}

	// A closed store fails the ping without showing the driver's error.
	f.store.Close()
	if resp := do(t, "GET", srv.URL+"/readyz", "", nil, &rd); resp.StatusCode != 503 || rd.Checks.Store.OK || rd.Checks.Store.Error == "" ||
		strings.Contains(strings.ToLower(rd.Checks.Store.Error), "sql") {
		t.Errorf("readyz with a closed store: %d %+v", resp.StatusCode, rd)
	}
	var e ErrorBody
	if resp := do(t, "GET", srv.URL+"/api/v1/jobs", "w", nil, &e); resp.StatusCode != 500 || strings.Contains(strings.ToLower(e.Error), "sql") {
		t.Errorf("jobs with a closed store: %d %+v", resp.StatusCode, e)
	}
}

func TestStoreErrorIsHidden(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ops []string
	f.svc.opts.StoreError = func(op string) { ops = append(ops, op) }
	f.svc.opts.Store = failingStore{Store: f.store, err: errors.New(`sqlite: near "DROP": syntax error (SQLITE_ERROR) secret`)}
	srv := f.server(Auth{})
	var e ErrorBody
	resp := do(t, "GET", srv.URL+"/api/v1/runs?job=backup", "", nil, &e)
	if resp.StatusCode != 500 || strings.Contains(e.Error, "secret") || strings.Contains(e.Error, "sqlite") {
		t.Errorf("store failure: %d %+v", resp.StatusCode, e)
	}
	f.svc.opts.Store = failingStore{Store: f.store, err: fmt.Errorf("listing runs: %w", context.DeadlineExceeded)}
	if resp := do(t, "GET", srv.URL+"/api/v1/runs", "", nil, &e); resp.StatusCode != 503 {
		t.Errorf("store timeout: %d %+v", resp.StatusCode, e)
	}
	if strings.Join(ops, ",") != "list_runs,list_runs" {
		t.Errorf("store errors reported: %v", ops)
	}
}

// failingStore fails ListRuns.
type failingStore struct {
	storage.Store
	err error
}

func (s failingStore) ListRuns(context.Context, storage.RunFilter) ([]jobs.Run, error) {
	return nil, s.err
}

func TestMethodNotAllowedAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	var e ErrorBody
	resp := do(t, "DELETE", srv.URL+"/api/v1/jobs/backup", "", nil, &e)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("DELETE job: %d Allow %q %+v", resp.StatusCode, resp.Header.Get("Allow"), e)
	}
	if resp := do(t, "GET", srv.URL+"/api/v1/jobs/backup/trigger", "", nil, &e); resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET trigger: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp := do(t, "GET", srv.URL+"/api/v1/nothing", "", nil, &e); resp.StatusCode != 404 || !strings.Contains(e.Error, "openapi.json") {
		t.Errorf("unknown route: %d %+v", resp.StatusCode, e)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	var e ErrorBody
	// Chunked, so only reading finds out it is too large.
	big := strings.NewReader(strings.Repeat("x", DefaultMaxBodyBytes+1))
	resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/trigger", "", struct{ *strings.Reader }{big}, &e)
	if resp.StatusCode != 413 {
		t.Errorf("oversized body: %d %+v", resp.StatusCode, e)
	}
	runs, err := f.store.ListRuns(context.Background(), storage.RunFilter{Trigger: jobs.TriggerManual, Limit: 10})
	if err != nil || len(runs) != 0 {
		t.Errorf("a refused trigger made runs: %v %v", runs, err)
	}
}
