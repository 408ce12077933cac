package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
)

// logRecorder is a slog handler that keeps every record, with the
// attributes its loggers were given.
type logRecorder struct {
	shared *recorded
	attrs  []slog.Attr
}

type recorded struct {
	mu      sync.Mutex
	records []slog.Record
}

func newLogRecorder() *logRecorder { return &logRecorder{shared: &recorded{}} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(l.attrs...)
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	l.shared.records = append(l.shared.records, r)
	return nil
}

func (l *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logRecorder{shared: l.shared, attrs: append(append([]slog.Attr(nil), l.attrs...), attrs...)}
}

func (l *logRecorder) WithGroup(string) slog.Handler { return l }

// find returns the attributes of every record with message msg.
func (l *logRecorder) find(msg string) []map[string]slog.Value {
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	var out []map[string]slog.Value
	for _, r := range l.shared.records {
		if r.Message != msg {
			continue
		}
		attrs := map[string]slog.Value{"level": slog.StringValue(r.Level.String())}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
		out = append(out, attrs)
	}
	return out
}

// webhook answers the statuses in turn (the last one from then on) and
// passes each request's body and headers on.
type webhook struct {
	srv      *httptest.Server
	requests atomic.Int32
	got      chan *http.Request
	bodies   chan []byte
}

func newWebhook(t *testing.T, statuses ...int) *webhook {
	w := &webhook{got: make(chan *http.Request, 100), bodies: make(chan []byte, 100)}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n := int(w.requests.Add(1))
		body, _ := io.ReadAll(r.Body)
		w.got <- r
		w.bodies <- body
		rw.WriteHeader(statuses[min(n, len(statuses))-1])
	}))
	t.Cleanup(w.srv.Close)
	return w
}

type notifierRig struct {
	t         *testing.T
	clk       *clock.Fake
	logs      *logRecorder
	n         *notifier
	delivered chan [2]any // attempts, error
	stop      func()
}

func newNotifierRig(t *testing.T, size int) *notifierRig {
	r := &notifierRig{t: t, clk: clock.NewFake(t0), logs: newLogRecorder(), delivered: make(chan [2]any, 10)}
	r.n = newNotifier(notifierOptions{Node: "n1", Clock: r.clk, Logger: slog.New(r.logs), Size: size, Backoff: time.Second})
	r.n.delivered = func(_ notification, attempts int, err error) { r.delivered <- [2]any{attempts, err} }
	return r
}

// run starts the notifier's goroutine; the test's cleanup ends it.
func (r *notifierRig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.n.run(ctx)
	}()
	r.stop = func() { cancel(); <-done }
	r.t.Cleanup(r.stop)
}

// retryAfter waits for the notifier to arm its backoff timer and moves the
// clock past it.
func (r *notifierRig) retryAfter(d time.Duration) {
	r.t.Helper()
	select {
	case <-r.clk.BlockUntil(1):
	case <-time.After(10 * time.Second):
		r.t.Fatal("the notifier did not wait to retry")
	}
	r.clk.Advance(d)
}

func (r *notifierRig) result() (int, error) {
	r.t.Helper()
	select {
	case d := <-r.delivered:
		err, _ := d[1].(error)
		return d[0].(int), err
	case <-time.After(10 * time.Second):
		r.t.Fatal("the notification was neither delivered nor given up")
	}
	return 0, nil
}

func (r *notifierRig) retryDelays() []string {
	var out []string
	for _, a := range r.logs.find("delivering notification; will retry") {
		out = append(out, a["retry_in"].Duration().String())
	}
	return out
}

var testAlert = Alert{Job: "backup", Kind: AlertFailures, Firing: true, Detail: "the last 3 runs failed", RunID: 42,
	At: time.Date(2026, 11, 29, 13, 0, 5, 0, time.FixedZone("CET", 3600))}

func TestNotifierRetriesThenDelivers(t *testing.T) {
	t.Parallel()
	hook := newWebhook(t, http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusNoContent)
	r := newNotifierRig(t, 10)
	r.run()
	to := jobs.NotifyConfig{Webhook: hook.srv.URL + "/alerts", Timeout: 5 * time.Second, Retries: 3,
		Headers: map[string]string{"Authorization": "Bearer s3cret", "X-Team": "ops"}}
	r.n.enqueue(to, testAlert)

	r.retryAfter(time.Second)     // after the 503
	r.retryAfter(2 * time.Second) // after the 500: the pause doubled
	attempts, err := r.result()
	if attempts != 3 || err != nil {
		t.Fatalf("delivered after %d attempts with %v, want 3 and nil", attempts, err)
	}
	if n := hook.requests.Load(); n != 3 {
		t.Errorf("webhook got %d requests, want 3", n)
	}
	if got := strings.Join(r.retryDelays(), ","); got != "1s,2s" {
		t.Errorf("retry pauses %s, want 1s,2s", got)
	}
	if g := r.logs.find("giving up delivering notification"); len(g) != 0 {
		t.Errorf("gave up: %v", g)
	}

	want := `{"alert":"failures","job":"backup","state":"firing","detail":"the last 3 runs failed",` +
		`"run_id":42,"node":"n1","at":"2026-11-29T12:00:05Z"}`
	for i := 0; i < 3; i++ {
		req, body := <-hook.got, <-hook.bodies
		if string(body) != want {
			t.Errorf("attempt %d posted\n%s\nwant\n%s", i+1, body, want)
		}
		if req.Method != http.MethodPost || req.URL.Path != "/alerts" || req.Header.Get("Content-Type") != "application/json" ||
			req.Header.Get("Authorization") != "Bearer s3cret" || req.Header.Get("X-Team") != "ops" {
			t.Errorf("attempt %d: %s %s with headers %v", i+1, req.Method, req.URL, req.Header)
		}
	}
}

func TestNotifierGivesUp(t *testing.T) {
	t.Parallel()
	hook := newWebhook(t, http.StatusBadGateway)
	r := newNotifierRig(t, 10)
	r.run()
	resolved := testAlert
	resolved.Firing, resolved.RunID = false, 0
	// The token in the URL's path must not reach the log.
	r.n.enqueue(jobs.NotifyConfig{Webhook: hook.srv.URL + "/hooks/T0KEN", Timeout: time.Second, Retries: 2}, resolved)

	r.retryAfter(time.Second)
	r.retryAfter(2 * time.Second)
	attempts, err := r.result()
	if attempts != 3 || err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("gave up after %d attempts with %v, want 3 and the 502", attempts, err)
	}
	if n := hook.requests.Load(); n != 3 {
		t.Errorf("webhook got %d requests, want 3 (1 + 2 retries)", n)
	}
	g := r.logs.find("giving up delivering notification")
	if len(g) != 1 || g[0]["level"].String() != "ERROR" || g[0]["attempts"].Int64() != 3 ||
		g[0]["job"].String() != "backup" || g[0]["alert"].String() != "failures" || g[0]["state"].String() != "resolved" {
		t.Fatalf("give-up log %v, want one error with attempts=3", g)
	}
	if w := g[0]["webhook"].String(); w != hook.srv.URL {
		t.Errorf("logged webhook %q, want only scheme and host %q", w, hook.srv.URL)
	}
	var b NotificationBody
	if err := json.Unmarshal(<-hook.bodies, &b); err != nil || b.State != "resolved" || b.RunID != nil {
		t.Errorf("posted %+v (%v), want resolved with a null run_id", b, err)
	}
}

func TestNotifierTransportErrorIsRetried(t *testing.T) {
	t.Parallel()
	hook := newWebhook(t, http.StatusOK)
	url := hook.srv.URL + "/secret-path"
	hook.srv.Close() // nothing listens: every attempt fails to connect
	r := newNotifierRig(t, 10)
	r.run()
	r.n.enqueue(jobs.NotifyConfig{Webhook: url, Timeout: time.Second, Retries: 1}, testAlert)
	r.retryAfter(time.Second)
	if attempts, err := r.result(); attempts != 2 || err == nil {
		t.Fatalf("gave up after %d attempts with %v, want 2 and an error", attempts, err)
	} else if strings.Contains(err.Error(), "secret-path") {
		t.Errorf("error %q shows the webhook's path", err)
	}
}

func TestNotifierClientErrorNotRetried(t *testing.T) {
	t.Parallel()
	hook := newWebhook(t, http.StatusUnauthorized)
	r := newNotifierRig(t, 10)
	r.run()
	r.n.enqueue(jobs.NotifyConfig{Webhook: hook.srv.URL, Timeout: time.Second, Retries: 3}, testAlert)
	attempts, err := r.result()
	if attempts != 1 || err == nil || !errors.Is(err, errPermanent) {
		t.Fatalf("%d attempts, error %v; want 1 and a permanent error", attempts, err)
	}
	if d := r.retryDelays(); len(d) != 0 {
		t.Errorf("retried after %v", d)
	}
}

func TestNotifierQueueDropsOldest(t *testing.T) {
	t.Parallel()
	r := newNotifierRig(t, 2)
	to := jobs.NotifyConfig{Webhook: "http://127.0.0.1:1/", Timeout: time.Second}
	for _, job := range []string{"a", "b", "c"} {
		a := testAlert
		a.Job = job
		r.n.enqueue(to, a)
	}
	var left []string
	for {
		it, ok := r.n.next()
		if !ok {
			break
		}
		left = append(left, it.alert.Job)
	}
	if strings.Join(left, ",") != "b,c" {
		t.Errorf("queue holds %v, want b,c", left)
	}
	d := r.logs.find("notification queue full; dropped the oldest notification")
	if len(d) != 1 || d[0]["job"].String() != "a" || d[0]["level"].String() != "WARN" {
		t.Errorf("drop log %v, want one warning naming job a", d)
	}
}

// TestNotifierStopsWithTheTerm: a retry pending when the term ends is
// abandoned at once; the goroutine ends (goleak checks in TestMain).
func TestNotifierStopsWithTheTerm(t *testing.T) {
	t.Parallel()
	hook := newWebhook(t, http.StatusServiceUnavailable)
	r := newNotifierRig(t, 10)
	r.run()
	r.n.enqueue(jobs.NotifyConfig{Webhook: hook.srv.URL, Timeout: time.Second, Retries: 5}, testAlert)
	select {
	case <-r.clk.BlockUntil(1): // waiting to retry
	case <-time.After(10 * time.Second):
		t.Fatal("the notifier did not wait to retry")
	}
	r.stop()
	if n := r.clk.Timers(); n != 0 {
		t.Errorf("%d timers left armed", n)
	}
	if len(r.logs.find("leadership ended while retrying a notification")) != 1 {
		t.Error("abandoned retry not logged")
	}
	select {
	case d := <-r.delivered:
		t.Errorf("delivered callback %v after the term ended", d)
	default:
	}
}
