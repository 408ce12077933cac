package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// t0 is the fixture's "now".
var t0 = apitest.Now

// fixture is a SQLite store with history, and a Service over it.
type fixture struct {
	t     *testing.T
	store storage.Store
	cfg   *jobs.Config
	clock *clock.Fake
	svc   *Service
	waker *countingWaker
	// Run ids of the history, by what they are.
	succeeded, failed, queued, missed, running int64
	nodeDigest                                 string
}

type countingWaker struct{ n atomic.Int64 }

func (w *countingWaker) Wake() { w.n.Add(1) }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := apitest.NewHistory(t)
	f := &fixture{t: t, store: h.Store, cfg: h.Config, clock: clock.NewFake(t0), waker: &countingWaker{},
		succeeded: h.Succeeded, failed: h.Failed, queued: h.Queued, missed: h.Missed, running: h.Running, nodeDigest: h.Config.Digest}
	f.svc = NewService(ServiceOptions{Store: f.store, Config: func() *jobs.Config { return f.cfg }, Waker: f.waker,
		NodeID: "node-a", LeaseState: func() string { return LeaseLeader }, Clock: f.clock, Logger: quietLogger()})
	return f
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// server serves the fixture's API with auth.
func (f *fixture) server(auth Auth) *httptest.Server {
	f.t.Helper()
	a, err := New(Options{Service: f.svc, Auth: auth, Logger: quietLogger()})
	if err != nil {
		f.t.Fatalf("api.New: %v", err)
	}
	srv := httptest.NewServer(a)
	f.t.Cleanup(srv.Close)
	return srv
}

// do sends a request and decodes a JSON answer into out (when not nil).
func do(t *testing.T, method, url, token string, body io.Reader, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); method != http.MethodHead && !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want JSON", method, url, ct)
	}
	if out != nil && method != http.MethodHead {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, url, b, err)
		}
	}
	return resp
}
