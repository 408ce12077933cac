package worker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

func TestTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want string
		ok   bool
	}{
		{"http://svc/hook", "http://svc:80", true},
		{"HTTPS://API.Example.com/v1?x=1", "https://api.example.com:443", true},
		{"http://user:secret@svc:8080/a", "http://svc:8080", true},
		{"http://[::1]:9000/", "http://[::1]:9000", true},
		{"https://[2001:db8::1]/", "https://[2001:db8::1]:443", true},
		{"/relative/path", "", false},
		{"http://%zz", "", false},
	} {
		got, ok := Target(tc.url)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Target(%q) = %q, %v; want %q, %v", tc.url, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	code := func(c int) *int { return &c }
	for _, tc := range []struct {
		name string
		res  executor.Result
		want error
	}{
		{"2xx", executor.Result{Status: jobs.StatusSucceeded, ExitCode: code(200)}, nil},
		{"4xx: the request's fault", executor.Result{Status: jobs.StatusFailed, ExitCode: code(404)}, nil},
		{"429 is still an answer", executor.Result{Status: jobs.StatusFailed, ExitCode: code(429)}, nil},
		{"5xx", executor.Result{Status: jobs.StatusFailed, ExitCode: code(503)}, errHostFailure},
		{"no response", executor.Result{Status: jobs.StatusFailed, Error: "dial tcp: connection refused"}, errHostFailure},
		{"timeout", executor.Result{Status: jobs.StatusTimedOut, Error: "timed out after 2s"}, errHostFailure},
		{"canceled", executor.Result{Status: jobs.StatusCanceled, Error: "canceled: tock is shutting down"}, errNotCounted},
	} {
		if got := classify(tc.res); got != tc.want {
			t.Errorf("%s: classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// scriptedExec is an executor whose results the test hands out one by one;
// entered, when set, is signalled when an attempt reaches it.
type scriptedExec struct {
	calls   atomic.Int64
	results chan executor.Result
	entered chan struct{}
}

func (s *scriptedExec) exec(ctx context.Context, _ *jobs.Job, _ executor.Options) executor.Result {
	s.calls.Add(1)
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	select {
	case r := <-s.results:
		return r
	case <-ctx.Done():
		return executor.Result{Status: jobs.StatusCanceled, Error: "canceled"}
	}
}

// transitions records the states a breaker reports, in order.
type transitions struct {
	mu     sync.Mutex
	states []string
}

func (tr *transitions) record(target string, s BreakerState) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.states = append(tr.states, target+" "+s.String())
}

func (tr *transitions) get() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.states...)
}

func httpJob(name, url string) *jobs.Job {
	return &jobs.Job{Name: name, HTTP: &jobs.HTTPSpec{Method: http.MethodGet, URL: url}}
}

func TestBreakerOpensAndFailsFast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	code := func(c int) *int { return &c }
	var tr transitions
	b := NewBreakers(BreakerOptions{Failures: 3, Changed: tr.record})
	se := &scriptedExec{results: make(chan executor.Result, 10)}
	exec := b.Wrap(se.exec)
	dead, other := httpJob("dead", "http://dead.example:8080/hook"), httpJob("other", "https://other.example/x")
	run := func(j *jobs.Job, r *executor.Result) executor.Result {
		t.Helper()
		if r != nil {
			se.results <- *r
		}
		return exec(ctx, j, executor.Options{})
	}
	failure := executor.Result{Status: jobs.StatusFailed, Error: "dial tcp 10.0.0.1:8080: connection refused"}
	// Two failures, then a 404 (an answer) and a cancel (not counted):
	// the count of failures in a row starts again after the 404.
	run(dead, &failure)
	run(dead, &failure)
	run(dead, &executor.Result{Status: jobs.StatusFailed, ExitCode: code(404), Error: "http 404 not in success codes 2xx"})
	run(dead, &executor.Result{Status: jobs.StatusCanceled, Error: "canceled"})
	run(dead, &failure)
	run(dead, &executor.Result{Status: jobs.StatusFailed, ExitCode: code(502), Error: "http 502 not in success codes 2xx"})
	if got := b.States(); got["http://dead.example:8080"] != "closed" {
		t.Fatalf("after 2 failures in a row: states %v, want dead closed", got)
	}
	run(dead, &executor.Result{Status: jobs.StatusTimedOut, Error: "timed out after 2s"})
	if got := b.States(); got["http://dead.example:8080"] != "open" {
		t.Fatalf("after 3 failures in a row: states %v, want dead open", got)
	}

	calls := se.calls.Load()
	for range 5 {
		res := run(dead, nil)
		if res.Status != jobs.StatusFailed || res.Error != "circuit open for http://dead.example:8080: last error: timed out after 2s" {
			t.Fatalf("attempt against an open breaker: %+v", res)
		}
	}
	if n := se.calls.Load() - calls; n != 0 {
		t.Fatalf("open breaker let %d attempts through", n)
	}
	// Another target is not affected; jobs without http bypass breakers.
	if res := run(other, &executor.Result{Status: jobs.StatusSucceeded}); res.Status != jobs.StatusSucceeded {
		t.Fatalf("other target: %+v", res)
	}
	if res := run(&jobs.Job{Name: "cmd", Command: []string{"true"}}, &executor.Result{Status: jobs.StatusSucceeded}); res.Status != jobs.StatusSucceeded {
		t.Fatalf("command job: %+v", res)
	}
	want := map[string]string{"http://dead.example:8080": "open", "https://other.example:443": "closed"}
	if got := b.States(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("States() = %v, want %v", got, want)
	}
	wantTr := []string{"http://dead.example:8080 closed", "http://dead.example:8080 open", "https://other.example:443 closed"}
	if got := tr.get(); fmt.Sprint(got) != fmt.Sprint(wantTr) {
		t.Fatalf("transitions %v, want %v", got, wantTr)
	}
}

func TestBreakerOff(t *testing.T) {
	t.Parallel()
	se := &scriptedExec{results: make(chan executor.Result, 10)}
	exec := NewBreakers(BreakerOptions{Failures: -1}).Wrap(se.exec)
	for range 10 {
		se.results <- executor.Result{Status: jobs.StatusTimedOut}
		exec(context.Background(), httpJob("dead", "http://dead/"), executor.Options{})
	}
	if n := se.calls.Load(); n != 10 {
		t.Fatalf("with breakers off, %d of 10 attempts ran", n)
	}
}

// gobreaker reads the wall clock and takes no clock, so this test uses a
// short real open timeout and waits for the half-open state by polling
// States (which is also what moves an open breaker to half-open).
func TestBreakerHalfOpenProbe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var tr transitions
	b := NewBreakers(BreakerOptions{Failures: 1, OpenTimeout: 20 * time.Millisecond, Changed: tr.record})
	se := &scriptedExec{results: make(chan executor.Result), entered: make(chan struct{}, 10)}
	exec := b.Wrap(se.exec)
	j := httpJob("j", "http://h:1/")
	const target = "http://h:1"
	fail := executor.Result{Status: jobs.StatusFailed, Error: "connection reset"}
	attempt := func() <-chan executor.Result {
		ch := make(chan executor.Result, 1)
		go func() { ch <- exec(ctx, j, executor.Options{}) }()
		return ch
	}
	waitHalfOpen := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for b.States()[target] != "half-open" {
			if time.Now().After(deadline) {
				t.Fatalf("breaker never half-open: %v", b.States())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	first := attempt()
	se.results <- fail
	<-first
	waitHalfOpen()
	// A failed probe opens the breaker again.
	probe := attempt()
	se.results <- fail
	if res := <-probe; res.Error != "connection reset" {
		t.Fatalf("probe result %+v, want the executor's", res)
	}
	waitHalfOpen()
	// While a probe is in flight, other attempts fail fast; the probe's
	// success closes the breaker.
	for len(se.entered) > 0 {
		<-se.entered
	}
	probe = attempt()
	<-se.entered
	res := <-attempt()
	if !strings.HasPrefix(res.Error, "circuit open for http://h:1 (half-open: a probe is in flight): last error: connection reset") {
		t.Fatalf("attempt during the probe: %+v", res)
	}
	se.results <- executor.Result{Status: jobs.StatusSucceeded}
	if res := <-probe; res.Status != jobs.StatusSucceeded {
		t.Fatalf("probe: %+v", res)
	}
	if got := b.States()[target]; got != "closed" {
		t.Fatalf("after a successful probe: %s, want closed", got)
	}
	want := "[closed open half-open open half-open closed]"
	var got []string
	for _, s := range tr.get() {
		got = append(got, strings.TrimPrefix(s, target+" "))
	}
	if fmt.Sprint(got) != want {
		t.Fatalf("transitions %v, want %v", got, want)
	}
}

// A dead endpoint (it answers nothing until the client gives up) cannot
// starve other jobs: once its breaker opens, its runs fail fast instead of
// holding a worker slot for the whole job timeout. Without the breaker the
// 20 dead runs would hold the 2 slots for 20 timeouts in a row.
func TestDeadEndpointDoesNotStarvePool(t *testing.T) {
	t.Parallel()
	var deadHits atomic.Int64
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadHits.Add(1)
		<-r.Context().Done()
	}))
	defer dead.Close()
	var healthyHits atomic.Int64
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		healthyHits.Add(1)
		fmt.Fprintln(w, "ok")
	}))
	defer healthy.Close()
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	const (
		workers  = 2
		failures = 2
		nDead    = 20
		nHealthy = 10
	)
	yaml := fmt.Sprintf(`
defaults: {concurrency: allow}
jobs:
  - {name: dead, schedule: "* * * * *", http: {url: "%s/hook"}, timeout: 2s}
  - {name: healthy, schedule: "* * * * *", http: {url: "%s/hook"}, timeout: 2s}
`, dead.URL, healthy.URL)
	r := newRigWith(t, yaml, Options{Workers: workers, Breaker: BreakerOptions{Failures: failures},
		Exec: func(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result {
			o.HTTPClient = client
			return executor.Execute(ctx, j, o)
		}})

	var deadRuns, healthyRuns []int64
	for i := range nDead {
		deadRuns = append(deadRuns, r.dispatch("dead", t0.Add(time.Duration(i)*time.Minute)).ID)
	}
	for i := range nHealthy {
		healthyRuns = append(healthyRuns, r.dispatch("healthy", t0.Add(time.Duration(i)*time.Minute)).ID)
	}
	for range nDead + nHealthy {
		select {
		case <-r.finished:
		case <-time.After(30 * time.Second):
			t.Fatalf("runs did not finish: pool busy %d", r.pool.Busy())
		}
	}

	for _, id := range healthyRuns {
		if run, _ := r.get(id); run.Status != jobs.StatusSucceeded {
			t.Errorf("healthy run %d: %s (%s)", id, run.Status, run.Error)
		}
	}
	deadTarget, _ := Target(dead.URL)
	timedOut, fastFailed := 0, 0
	for _, id := range deadRuns {
		run, atts := r.get(id)
		switch {
		case run.Status == jobs.StatusTimedOut:
			timedOut++
		case run.Status == jobs.StatusFailed && strings.HasPrefix(run.Error, "circuit open for "+deadTarget+": last error: timed out"):
			fastFailed++
			if len(atts) != 1 || atts[0].ExitCode != nil {
				t.Errorf("fast-failed run %d: attempts %+v", id, atts)
			}
		default:
			t.Errorf("dead run %d: %s (%q)", id, run.Status, run.Error)
		}
	}
	// Before the breaker opened, at most one attempt per slot beyond the
	// tripping ones can have started.
	hits := int(deadHits.Load())
	if hits < failures || hits > failures+workers-1 {
		t.Errorf("the dead endpoint was called %d times, want %d to %d", hits, failures, failures+workers-1)
	}
	if timedOut != hits || fastFailed != nDead-hits {
		t.Errorf("dead runs: %d timed out, %d failed fast; want %d and %d", timedOut, fastFailed, hits, nDead-hits)
	}
	if n := healthyHits.Load(); n != nHealthy {
		t.Errorf("the healthy endpoint was called %d times, want %d", n, nHealthy)
	}
	healthyTarget, _ := Target(healthy.URL)
	want := map[string]string{deadTarget: "open", healthyTarget: "closed"}
	if got := r.pool.Breakers(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Pool.Breakers() = %v, want %v", got, want)
	}
}
