package dashboard

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

type rig struct {
	t     *testing.T
	h     *apitest.History
	clock *clock.Fake
	srv   *httptest.Server
	c     *http.Client
}

func newRig(t *testing.T, auth api.Auth) *rig {
	t.Helper()
	h := apitest.NewHistory(t)
	clk := clock.NewFake(apitest.Now)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := api.NewService(api.ServiceOptions{Store: h.Store, Config: func() *jobs.Config { return h.Config }, NodeID: "node-a",
		LeaseState: func() string { return api.LeaseLeader }, Clock: clk, Logger: log})
	d, err := New(Options{Service: svc, Auth: auth, Clock: clk, Logger: log, Version: "test"})
	if err != nil {
		t.Fatalf("dashboard.New: %v", err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return &rig{t: t, h: h, clock: clk, srv: srv, c: newClient()}
}

// newClient is a browser: it keeps cookies and does not follow redirects,
// so tests see them.
func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (r *rig) get(c *http.Client, path string) (int, string, http.Header) {
	r.t.Helper()
	resp, err := c.Get(r.srv.URL + path)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (r *rig) post(c *http.Client, path string, form url.Values) (int, string, http.Header) {
	r.t.Helper()
	resp, err := c.PostForm(r.srv.URL+path, form)
	if err != nil {
		r.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf loads a page and returns its form token (the cookie is in c's jar).
func (r *rig) csrf(c *http.Client, path string) string {
	r.t.Helper()
	_, body, _ := r.get(c, path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		r.t.Fatalf("GET %s: no csrf field in\n%s", path, body)
	}
	return m[1]
}

func wantContains(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("%s lacks %q", what, s)
		}
	}
}

func TestPagesRender(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	h := r.h
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"<h1>Jobs</h1>", "backup", "report", "frozen", "*/5 * * * *", "Europe/Berlin", "in 5m",
			"paused", "in the config file", `action="/jobs/backup/trigger"`, `action="/jobs/backup/pause"`,
			fmt.Sprintf(`href="/runs/%d"`, h.Queued), "node-a · leader"}},
		{"/runs", []string{"<h1>Runs</h1>", fmt.Sprintf("#%d", h.Succeeded), fmt.Sprintf("#%d", h.Missed), "exit status 3", "catchup", `name="status"`}},
		{"/runs?status=failed", []string{fmt.Sprintf("#%d", h.Failed), "exit status 3"}},
		{fmt.Sprintf("/runs/%d", h.Succeeded), []string{fmt.Sprintf("Run #%d", h.Succeeded), "Attempt 1", "backup done", "on node-a · epoch 1 · started"}},
		{fmt.Sprintf("/runs/%d", h.Failed), []string{"disk full", "exit 3", "exit status 3"}},
		{fmt.Sprintf("/runs/%d", h.Queued), []string{"No attempt yet", `action="/runs/` + fmt.Sprint(h.Queued) + `/cancel"`}},
		{"/cluster", []string{"<h1>Cluster</h1>", "node-a", "node-b", "node-c", "Epoch</dt><dd>1", h.Config.Digest,
			"config differs", "1 replica(s) differ", "gone", "(this page)"}},
	} {
		status, body, hdr := r.get(r.c, tc.path)
		if status != 200 {
			t.Errorf("GET %s: %d\n%s", tc.path, status, body)
			continue
		}
		wantContains(t, "GET "+tc.path, body, tc.want...)
		if !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			hdr.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", tc.path, hdr)
		}
	}
	// The filtered list leaves the other runs out.
	if _, body, _ := r.get(r.c, "/runs?status=failed"); strings.Contains(body, fmt.Sprintf("#%d<", h.Succeeded)) {
		t.Errorf("status filter shows the succeeded run")
	}
	if status, body, hdr := r.get(r.c, "/static/style.css"); status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/css") || !strings.Contains(body, ".grid") {
		t.Errorf("style.css: %d %s", status, hdr.Get("Content-Type"))
	}
	for _, p := range []string{"/nope", "/runs/999999"} {
		if status, body, _ := r.get(r.c, p); status != 404 || !strings.Contains(body, "<h1>Not Found</h1>") {
			t.Errorf("GET %s: %d", p, status)
		}
	}
	if status, _, _ := r.get(r.c, "/runs/x"); status != 400 {
		t.Errorf("GET /runs/x: %d", status)
	}
}

func TestOutputIsEscaped(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	_, body, _ := r.get(r.c, fmt.Sprintf("/runs/%d", r.h.Succeeded))
	if strings.Contains(body, "<script>alert") {
		t.Fatalf("run page carries the job's <script> unescaped")
	}
	wantContains(t, "run page", body, `&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;`)
	if !regexp.MustCompile(`(?s)<pre class="output"[^>]*>&lt;script&gt;.*backup done`).MatchString(body) {
		t.Errorf("output not in <pre>")
	}
}

// TestRunPageLiveOutput: a running attempt's page shows the output stored
// so far with a refresh link, and points its script at the log stream,
// which the session's read access opens.
func TestRunPageLiveOutput(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	if err := r.h.Store.FlushOutput(t.Context(), storage.OutputParams{RunID: r.h.Running, Attempt: 1, Node: "node-a",
		LiveOutput: storage.LiveOutput{Output: "step 1 <ok>\n"}}); err != nil {
		t.Fatal(err)
	}
	_, body, hdr := r.get(r.c, fmt.Sprintf("/runs/%d", r.h.Running))
	wantContains(t, "run page", body, `step 1 &lt;ok&gt;`)
	wantContains(t, "run page", body, fmt.Sprintf(`data-live="/runs/%d/logs?follow=1&amp;attempt=1&amp;offset=12"`, r.h.Running))
	wantContains(t, "run page", body, `<script src="/static/live.js" defer></script>`)
	wantContains(t, "run page", body, fmt.Sprintf(`<a href="/runs/%d#attempt-1">refresh</a>`, r.h.Running))
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q allows no script or stream", csp)
	}
	status, body, hdr := r.get(r.c, fmt.Sprintf("/runs/%d/logs", r.h.Running))
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !strings.Contains(body, `step 1 \u003cok\u003e`) {
		t.Errorf("GET /runs/%d/logs: %d %s %s", r.h.Running, status, hdr.Get("Content-Type"), body)
	}
	if status, body, _ := r.get(r.c, "/static/live.js"); status != 200 || !strings.Contains(body, "EventSource") {
		t.Errorf("live.js: %d", status)
	}
}

func TestRunsFilterErrorsAndPaging(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	status, body, _ := r.get(r.c, "/runs?status=bogus&since=")
	if status != 400 {
		t.Errorf("bad filter: %d", status)
	}
	wantContains(t, "bad filter page", body, `status: &#34;bogus&#34; is not a run status`, `<form method="get" action="/runs"`)

	var seen []string
	path := "/runs?job=backup&status=&limit=2"
	idRE := regexp.MustCompile(`<td><a href="/runs/(\d+)">`)
	nextRE := regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	for page := 0; ; page++ {
		if page > 3 {
			t.Fatal("paging does not end")
		}
		status, body, _ := r.get(r.c, path)
		if status != 200 {
			t.Fatalf("GET %s: %d", path, status)
		}
		for _, m := range idRE.FindAllStringSubmatch(body, -1) {
			seen = append(seen, m[1])
		}
		if page > 0 && !strings.Contains(body, "« Newest") {
			t.Errorf("page %d lacks the link to the newest runs", page)
		}
		m := nextRE.FindStringSubmatch(body)
		if m == nil {
			break
		}
		path = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	want := []string{fmt.Sprint(r.h.Queued), fmt.Sprint(r.h.Failed), fmt.Sprint(r.h.Succeeded)}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("paged through %v, want %v", seen, want)
	}
}

func TestTriggerFormCreatesManualRun(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	tok := r.csrf(r.c, "/")
	status, _, hdr := r.post(r.c, "/jobs/backup/trigger", url.Values{"csrf": {tok}})
	if status != http.StatusSeeOther {
		t.Fatalf("trigger: %d", status)
	}
	runs, err := r.h.Store.ListRuns(context.Background(), storage.RunFilter{Job: "backup", Trigger: jobs.TriggerManual, Limit: 10})
	if err != nil || len(runs) != 1 {
		t.Fatalf("manual runs after trigger: %v %v", runs, err)
	}
	if loc := hdr.Get("Location"); loc != fmt.Sprintf("/runs/%d", runs[0].ID) {
		t.Errorf("redirect to %q", loc)
	}
	_, body, _ := r.get(r.c, fmt.Sprintf("/runs/%d", runs[0].ID))
	wantContains(t, "new run page", body, "manual", "scheduled")
}

func TestPauseResumeCancelForms(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	ctx := context.Background()
	tok := r.csrf(r.c, "/")
	if status, _, hdr := r.post(r.c, "/jobs/report/pause", url.Values{"csrf": {tok}}); status != 303 || hdr.Get("Location") != "/#job-report" {
		t.Fatalf("pause: %d %v", status, hdr)
	}
	if st, _ := r.h.Store.JobStates(ctx); !st["report"].Paused {
		t.Errorf("report not paused")
	}
	_, body, _ := r.get(r.c, "/")
	wantContains(t, "jobs page after pause", body, `action="/jobs/report/resume"`)
	if status, _, _ := r.post(r.c, "/jobs/report/resume", url.Values{"csrf": {tok}}); status != 303 {
		t.Fatalf("resume: %d", status)
	}
	if st, _ := r.h.Store.JobStates(ctx); st["report"].Paused {
		t.Errorf("report still paused")
	}
	if status, _, _ := r.post(r.c, fmt.Sprintf("/runs/%d/cancel", r.h.Queued), url.Values{"csrf": {tok}}); status != 303 {
		t.Fatalf("cancel: %d", status)
	}
	if run, _, _ := r.h.Store.GetRun(ctx, r.h.Queued); run.Status != jobs.StatusCanceled {
		t.Errorf("run %d is %s after cancel", run.ID, run.Status)
	}
	if status, body, _ := r.post(r.c, fmt.Sprintf("/runs/%d/cancel", r.h.Succeeded), url.Values{"csrf": {tok}}); status != 409 || !strings.Contains(body, "already finished") {
		t.Errorf("cancel of a finished run: %d", status)
	}
	if status, _, _ := r.post(r.c, "/jobs/ghost/trigger", url.Values{"csrf": {tok}}); status != 404 {
		t.Errorf("trigger of an unknown job: %d", status)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	tok := r.csrf(r.c, "/")
	other := newClient()
	otherTok := r.csrf(other, "/")
	for _, tc := range []struct {
		name string
		c    *http.Client
		form url.Values
	}{
		{"no token", r.c, url.Values{}},
		{"wrong token", r.c, url.Values{"csrf": {"AAAA"}}},
		{"another browser's token", r.c, url.Values{"csrf": {otherTok}}},
		{"no cookie", &http.Client{CheckRedirect: r.c.CheckRedirect}, url.Values{"csrf": {tok}}},
	} {
		if status, body, _ := r.post(tc.c, "/jobs/backup/trigger", tc.form); status != 403 || !strings.Contains(body, "form has expired") {
			t.Errorf("%s: %d", tc.name, status)
		}
	}
	runs, _ := r.h.Store.ListRuns(context.Background(), storage.RunFilter{Trigger: jobs.TriggerManual, Limit: 10})
	if len(runs) != 0 {
		t.Errorf("refused forms made %d runs", len(runs))
	}
	// Another dashboard process (another random key) refuses this one's token.
	r2 := newRig(t, api.Auth{})
	r2.c.Jar.SetCookies(mustURL(r2.srv.URL), r.c.Jar.Cookies(mustURL(r.srv.URL)))
	if status, _, _ := r2.post(r2.c, "/jobs/backup/trigger", url.Values{"csrf": {tok}}); status != 403 {
		t.Errorf("token of another process: %d", status)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestLoginWithToken(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{Token: "write-secret"})
	status, body, _ := r.get(r.c, "/")
	if status != 200 || strings.Contains(body, `action="/jobs/backup/trigger"`) || !strings.Contains(body, "log in to act") {
		t.Fatalf("jobs page before login: %d, buttons shown or no login link", status)
	}
	tok := r.csrf(r.c, "/login?next=/runs")
	if status, _, _ := r.post(r.c, "/jobs/backup/trigger", url.Values{"csrf": {tok}}); status != 403 {
		t.Errorf("trigger before login: %d", status)
	}
	if status, body, _ := r.post(r.c, "/login", url.Values{"csrf": {tok}, "token": {"nope"}, "next": {"/runs"}}); status != 401 || !strings.Contains(body, "not valid") {
		t.Errorf("login with a wrong token: %d", status)
	}
	status, _, hdr := r.post(r.c, "/login", url.Values{"csrf": {tok}, "token": {"write-secret"}, "next": {"/runs"}})
	if status != 303 || hdr.Get("Location") != "/runs" {
		t.Fatalf("login: %d %v", status, hdr)
	}
	cookie := hdr.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || strings.Contains(cookie, "write-secret") {
		t.Errorf("session cookie %q", cookie)
	}
	if status, _, _ := r.post(r.c, "/jobs/backup/trigger", url.Values{"csrf": {tok}}); status != 303 {
		t.Errorf("trigger after login: %d", status)
	}
	_, body, _ = r.get(r.c, "/")
	wantContains(t, "jobs page after login", body, `action="/jobs/backup/trigger"`, "Log out")

	// The session ends after its TTL.
	r.clock.Advance(SessionTTL + time.Minute)
	if status, _, _ := r.post(r.c, "/jobs/backup/pause", url.Values{"csrf": {tok}}); status != 403 {
		t.Errorf("action with an expired session: %d", status)
	}
}

func TestLoginRedirectIsLocal(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{Token: "w"})
	tok := r.csrf(r.c, "/login")
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		_, _, hdr := r.post(r.c, "/login", url.Values{"csrf": {tok}, "token": {"w"}, "next": {next}})
		if loc := hdr.Get("Location"); loc != "/" {
			t.Errorf("next=%q redirected to %q", next, loc)
		}
	}
}

func TestReadToken(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{Token: "w", ReadToken: "r"})
	status, _, hdr := r.get(r.c, "/runs?job=backup")
	if status != 303 || hdr.Get("Location") != "/login?next="+url.QueryEscape("/runs?job=backup") {
		t.Fatalf("page without login: %d %v", status, hdr.Get("Location"))
	}
	tok := r.csrf(r.c, "/login")
	if status, _, _ := r.post(r.c, "/login", url.Values{"csrf": {tok}, "token": {"r"}}); status != 303 {
		t.Fatalf("login with the read token: %d", status)
	}
	if status, body, _ := r.get(r.c, "/"); status != 200 || strings.Contains(body, `action="/jobs/backup/trigger"`) {
		t.Errorf("jobs page with the read token: %d (buttons must not show)", status)
	}
	if status, _, _ := r.post(r.c, "/jobs/backup/trigger", url.Values{"csrf": {tok}}); status != 403 {
		t.Errorf("trigger with the read token: %d", status)
	}
	// A forged or tampered session gives nothing.
	for _, forged := range []string{"2.99999999999.AAAA", "1.99999999999.", "garbage", ""} {
		c := newClient()
		c.Jar.SetCookies(mustURL(r.srv.URL), []*http.Cookie{{Name: sessionCookie, Value: forged}})
		if status, _, _ := r.get(c, "/"); status != 303 {
			t.Errorf("forged session %q: %d", forged, status)
		}
	}
}

func TestFormBodyLimit(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	tok := r.csrf(r.c, "/")
	h := http.MaxBytesHandler(r.srv.Config.Handler, 1024)
	srv := httptest.NewServer(h)
	defer srv.Close()
	r.c.Jar.SetCookies(mustURL(srv.URL), r.c.Jar.Cookies(mustURL(r.srv.URL)))
	resp, err := r.c.PostForm(srv.URL+"/jobs/backup/trigger", url.Values{"csrf": {tok}, "pad": {strings.Repeat("x", 4096)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("oversized form: %d", resp.StatusCode)
	}
}

// TestRunPageTraceparent: a run dispatched by a tracing leader shows its
// traceparent; one without shows no Trace row.
func TestRunPageTraceparent(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	ctx := t.Context()
	_, epoch, err := r.h.Store.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	runs, err := r.h.Store.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: at, Runs: []storage.NewRun{{Job: "backup", Digest: "d",
		ScheduledAt: at, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: at, Traceparent: tp}}})
	if err != nil || len(runs) != 1 {
		t.Fatalf("Dispatch = %v, %v", runs, err)
	}
	_, body, _ := r.get(r.c, fmt.Sprintf("/runs/%d", runs[0].ID))
	wantContains(t, "run page", body, `<dd id="traceparent"><code>`+tp+`</code>`)
	if _, body, _ := r.get(r.c, fmt.Sprintf("/runs/%d", r.h.Succeeded)); strings.Contains(body, `id="traceparent"`) {
		t.Errorf("a run without a traceparent shows a Trace row")
	}
}
