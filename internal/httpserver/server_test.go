package httpserver

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/dashboard"
	"github.com/tock-sched/tock/internal/metrics"
	"github.com/tock-sched/tock/jobs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// options assembles a replica's surface over the test history.
func options(t *testing.T, auth api.Auth, clk clock.Clock) Options {
	t.Helper()
	h := apitest.NewHistory(t)
	svc := api.NewService(api.ServiceOptions{Store: h.Store, Config: func() *jobs.Config { return h.Config }, NodeID: "node-a",
		Clock: clk, Logger: quiet})
	a, err := api.New(api.Options{Service: svc, Auth: auth, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dashboard.New(dashboard.Options{Service: svc, Auth: auth, Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	m.Observe(metrics.Sources{})
	return Options{API: a, Dashboard: d, Metrics: m.Handler(quiet), Auth: auth, Logger: quiet, Clock: clk}
}

func serve(t *testing.T, h http.Handler, method, path, remote string, body io.Reader, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	if remote != "" {
		req.RemoteAddr = remote
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Errorf("status %d: body %q is not a JSON error", w.Code, w.Body.String())
	}
	return e.Error
}

func TestRoutesAssembled(t *testing.T) {
	t.Parallel()
	h, err := Handler(options(t, api.Auth{}, apitest.NowClock()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want, ctype string
	}{
		{"/healthz", `"ok"`, "application/json"},
		{"/readyz", `"ready": true`, "application/json"},
		{"/api/v1/jobs", `"backup"`, "application/json"},
		{"/api/v1/openapi.json", `"openapi"`, "application/json"},
		{"/metrics", "tock_leader 0", "text/plain"},
		{"/", "<h1>Jobs</h1>", "text/html"},
		{"/cluster", "<h1>Cluster</h1>", "text/html"},
		{"/static/style.css", ".grid", "text/css"},
	} {
		w := serve(t, h, "GET", tc.path, "", nil, nil)
		if w.Code != 200 || !strings.Contains(w.Body.String(), tc.want) || !strings.HasPrefix(w.Header().Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s: %d %s, want %s with %q", tc.path, w.Code, w.Header().Get("Content-Type"), tc.ctype, tc.want)
		}
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(apitest.Now)
	o := options(t, api.Auth{}, clk)
	o.Rate, o.Burst = 2, 3
	h, err := Handler(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if w := serve(t, h, "GET", "/api/v1/cluster", "192.0.2.1:1000", nil, nil); w.Code != 200 {
			t.Fatalf("request %d within the burst: %d", i+1, w.Code)
		}
	}
	w := serve(t, h, "GET", "/api/v1/cluster", "192.0.2.1:1001", nil, nil)
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the burst: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	errorOf(t, w)
	// Another client, and health probes, are not limited.
	if w := serve(t, h, "GET", "/api/v1/cluster", "192.0.2.2:1000", nil, nil); w.Code != 200 {
		t.Errorf("another client: %d", w.Code)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if w := serve(t, h, "GET", p, "192.0.2.1:1000", nil, nil); w.Code != 200 {
			t.Errorf("%s while limited: %d", p, w.Code)
		}
	}
	// The dashboard shares the budget.
	if w := serve(t, h, "GET", "/", "192.0.2.1:1000", nil, nil); w.Code != 429 {
		t.Errorf("dashboard while limited: %d", w.Code)
	}
	clk.Advance(500 * time.Millisecond) // rate 2/s: one token back
	if w := serve(t, h, "GET", "/api/v1/cluster", "192.0.2.1:1000", nil, nil); w.Code != 200 {
		t.Errorf("after the refill: %d", w.Code)
	}
	if w := serve(t, h, "GET", "/api/v1/cluster", "192.0.2.1:1000", nil, nil); w.Code != 429 {
		t.Errorf("second request after one refill: %d", w.Code)
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.7:5555", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:5555", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:1", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:5555", "192.0.2.7"},
		{"@", "@"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if got := clientKey(r); got != tc.want {
			t.Errorf("clientKey(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

func TestLimiterForgetsIdleClients(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(apitest.Now)
	l := newLimiter(1, 1, clk.Now)
	for i := 0; i < maxClients; i++ {
		l.allow("c" + strconv.Itoa(i))
	}
	clk.Advance(clientIdle + time.Second)
	l.allow("fresh")
	if n := len(l.clients); n != 1 {
		t.Errorf("%d clients kept after the idle sweep, want 1", n)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	o := options(t, api.Auth{}, apitest.NowClock())
	o.MaxBodyBytes = 1024
	h, err := Handler(o)
	if err != nil {
		t.Fatal(err)
	}
	w := serve(t, h, "POST", "/api/v1/jobs/backup/trigger", "", strings.NewReader(strings.Repeat("x", 2048)), nil)
	if w.Code != 413 {
		t.Errorf("declared oversized body: %d", w.Code)
	}
	errorOf(t, w)
	// Undeclared length: the API finds out while reading.
	req := httptest.NewRequest("POST", "/api/v1/jobs/backup/trigger", io.MultiReader(strings.NewReader(strings.Repeat("x", 2048))))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Errorf("chunked oversized body: %d", rec.Code)
	}
	if w := serve(t, h, "POST", "/api/v1/jobs/backup/trigger", "", strings.NewReader("{}"), nil); w.Code != 202 {
		t.Errorf("small body: %d", w.Code)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	t.Parallel()
	h, err := Handler(options(t, api.Auth{}, apitest.NowClock()))
	if err != nil {
		t.Fatal(err)
	}
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "http://evil.example"},
	} {
		for _, p := range []string{"/api/v1/jobs/backup/trigger", "/jobs/backup/trigger"} {
			w := serve(t, h, "POST", p, "", nil, hdr)
			if w.Code != 403 {
				t.Errorf("POST %s with %v: %d", p, hdr, w.Code)
			}
			errorOf(t, w)
		}
	}
	// A same-origin browser request and a non-browser client pass.
	if w := serve(t, h, "POST", "/api/v1/jobs/backup/trigger", "", nil, map[string]string{"Sec-Fetch-Site": "same-origin"}); w.Code != 202 {
		t.Errorf("same-origin: %d", w.Code)
	}
	if w := serve(t, h, "POST", "/api/v1/jobs/backup/trigger", "", nil, nil); w.Code != 202 {
		t.Errorf("curl-like: %d", w.Code)
	}
}

func TestMetricsNeedReadToken(t *testing.T) {
	t.Parallel()
	h, err := Handler(options(t, api.Auth{Token: "w", ReadToken: "r"}, apitest.NowClock()))
	if err != nil {
		t.Fatal(err)
	}
	if w := serve(t, h, "GET", "/metrics", "", nil, nil); w.Code != 401 {
		t.Errorf("metrics without a token: %d", w.Code)
	}
	for _, tok := range []string{"r", "w"} {
		if w := serve(t, h, "GET", "/metrics", "", nil, map[string]string{"Authorization": "Bearer " + tok}); w.Code != 200 {
			t.Errorf("metrics with token %q: %d", tok, w.Code)
		}
	}
	if _, err := Handler(Options{API: http.NotFoundHandler(), Auth: api.Auth{ReadToken: "r"}}); err == nil {
		t.Errorf("a read token without an API token was accepted")
	}
}

func TestPanicBecomes500(t *testing.T) {
	t.Parallel()
	o := options(t, api.Auth{}, apitest.NowClock())
	o.Dashboard = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	h, err := Handler(o)
	if err != nil {
		t.Fatal(err)
	}
	w := serve(t, h, "GET", "/boom", "", nil, nil)
	if w.Code != 500 || strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic: %d %q", w.Code, w.Body.String())
	}
}

func TestServerLifecycle(t *testing.T) {
	o := options(t, api.Auth{}, apitest.NowClock())
	o.Addr = "127.0.0.1:0"
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Stop() // safe before Start
	hs := s.HTTPServer()
	if hs.ReadHeaderTimeout != DefaultReadHeaderTimeout || hs.ReadTimeout != DefaultReadTimeout || hs.WriteTimeout != DefaultWriteTimeout ||
		hs.IdleTimeout != DefaultIdleTimeout || hs.MaxHeaderBytes == 0 {
		t.Errorf("timeouts %+v", hs)
	}

	s, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("second Start accepted")
	}
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()

	// The address is taken: a second server fails to start.
	o2 := o
	o2.Addr = s.Addr()
	s2, err := New(o2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(context.Background()); err == nil {
		s2.Stop()
		t.Error("a second server bound the same address")
	}
	s.Stop()
	s.Stop() // idempotent
	if _, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		t.Error("still serving after Stop")
	}
}

func TestPprofOnlyWhenAskedAndGuarded(t *testing.T) {
	t.Parallel()
	o := options(t, api.Auth{Token: "w", ReadToken: "r"}, apitest.NowClock())
	off, err := Handler(o)
	if err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": "Bearer r"}
	if w := serve(t, off, "GET", "/debug/pprof/heap", "", nil, auth); strings.Contains(w.Body.String(), "heap profile") || w.Header().Get("Content-Type") == "application/octet-stream" {
		t.Errorf("pprof served without --debug-pprof: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	o.Pprof = true
	on, err := Handler(o)
	if err != nil {
		t.Fatal(err)
	}
	if w := serve(t, on, "GET", "/debug/pprof/heap", "", nil, nil); w.Code != 401 {
		t.Errorf("pprof without a token: %d", w.Code)
	}
	w := serve(t, on, "GET", "/debug/pprof/heap?debug=1", "", nil, auth)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "heap profile") {
		t.Errorf("pprof heap with the read token: %d %.80q", w.Code, w.Body.String())
	}
}
