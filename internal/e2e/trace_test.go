package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/runtrace"
	"github.com/tock-sched/tock/internal/tracing/otlptest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/redis/redistest"
)

// TestTraceAcrossReplicas: real replicas export their spans to an
// in-process OTLP/HTTP receiver. node-1 alone may lead (the others are
// workers) and runs nothing (its labels match no job); node-2 runs the
// jobs from doorbells, node-3, whose Redis does not answer, claims by
// polling the store. Each run is one trace: the leader's dispatch span,
// and under it, for each attempt on the worker, claim → attempt → finish;
// the http job's target and the command job see the traceparent of
// their attempt's span, and a retry's claim hangs under the same
// dispatch span.
func TestTraceAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: multi-process tests do not run with -short")
	}
	rcv, err := otlptest.Start(true)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	var mu sync.Mutex
	seen := map[string]string{} // "run/attempt" → traceparent header
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Header.Get("X-Tock-Run-Id")+"/"+r.Header.Get("X-Tock-Attempt")] = r.Header.Get("Traceparent")
	}))
	defer target.Close()

	bin := tockBinary(t)
	dir := t.TempDir()
	cmdLog := filepath.Join(dir, "command.log")
	// The command job fails its first attempt and succeeds on the retry.
	config := fmt.Sprintf(`defaults: {timeout: 30s, concurrency: allow}
jobs:
  - name: hook
    schedule: "*/2 * * * * *"
    http: {url: "%[1]s/hook"}
    run_on: {labels: {exec: "queue"}}
  - name: script
    schedule: "*/3 * * * * *"
    command: ["/bin/sh", "-c", 'echo "$TOCK_RUN_ID $TOCK_ATTEMPT $TRACEPARENT $TOCK_E2E_REPLICA" >> %[2]s; [ "$TOCK_ATTEMPT" -ge 2 ]']
    retries: 1
    retry_backoff: 1s
    run_on: {labels: {exec: "queue"}}
  - name: polled
    schedule: "*/2 * * * * *"
    http: {url: "%[1]s/polled"}
    run_on: {labels: {exec: "poll"}}
`, target.URL, cmdLog)
	path := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	deadPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + rcv.URL(), "OTEL_BSP_SCHEDULE_DELAY=100"}
	redisURL, prefix := redistest.New(t)
	c := startCluster(t, Options{
		Binary: bin, Dir: dir, Config: path, StoreURL: mysqltest.NewDatabase(t), RedisURL: redisURL, Cluster: prefix, Replicas: 3,
		PerReplica: []ReplicaOptions{
			{Env: otel, Args: []string{"--labels", "exec=none"}},
			{Env: otel, Args: []string{"--role", "worker", "--labels", "exec=queue"}},
			{Env: otel, Args: []string{"--role", "worker", "--labels", "exec=poll"},
				RedisURL: fmt.Sprintf("redis://127.0.0.1:%d/0", deadPort)},
		},
	}, 30*time.Second)
	t.Cleanup(func() { c.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runs := map[string]jobs.Run{}
	err = Poll(ctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, job := range []string{"hook", "script", "polled"} {
			if _, ok := runs[job]; ok {
				continue
			}
			all, err := listRuns(ctx, c.Store(), job)
			if err != nil {
				return false, err
			}
			for _, r := range all {
				if r.Status == jobs.StatusSucceeded {
					runs[job] = r
					break
				}
			}
		}
		return len(runs) == 3, nil
	})
	if err != nil {
		t.Fatalf("no succeeded run of every job within 60s (have %v): %v", runs, err)
	}
	if a := runs["script"].Attempt; a != 2 {
		t.Fatalf("script run %d succeeded on attempt %d, want 2", runs["script"].ID, a)
	}
	// The spans of each run: its dispatch span, and per attempt a claim,
	// an attempt and a finish span.
	var tree map[string]runSpans
	err = Poll(ctx, 200*time.Millisecond, func(context.Context) (bool, error) {
		tree = spansOf(rcv.Spans(), runs)
		for job, r := range runs {
			if !tree[job].complete(r.Attempt) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the receiver did not get every span of the runs %v within 60s: have %+v", runs, tree)
	}
	for job, r := range runs {
		checkRunTrace(t, job, r, tree[job], map[string]string{"hook": "node-2", "script": "node-2", "polled": "node-3"}[job])
	}
	attemptTP := func(job string, n int) string {
		s := tree[job].attempts[n]
		return "00-" + s.TraceID + "-" + s.SpanID + "-01"
	}
	mu.Lock()
	for _, job := range []string{"hook", "polled"} {
		r := runs[job]
		if got, want := seen[fmt.Sprintf("%d/%d", r.ID, r.Attempt)], attemptTP(job, r.Attempt); got != want {
			t.Errorf("%s run %d: the target saw traceparent %q, want the attempt span's %q", job, r.ID, got, want)
		}
	}
	mu.Unlock()
	if via := tree["polled"].claims[1].Attrs[string(runtrace.KeyClaimVia)]; via != "poll" {
		t.Errorf("polled run: claim span via %q, want poll", via)
	}
	if via := tree["hook"].claims[1].Attrs[string(runtrace.KeyClaimVia)]; via != "queue" {
		t.Errorf("hook run: claim span via %q, want queue", via)
	}
	// The command job saw its attempt's traceparent, on both attempts.
	got := map[int]string{}
	f, err := os.Open(cmdLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 4 && fields[0] == strconv.FormatInt(runs["script"].ID, 10) {
			n, _ := strconv.Atoi(fields[1])
			got[n] = fields[2]
			if fields[3] != "node-2" {
				t.Errorf("script attempt %d ran on %s, want node-2", n, fields[3])
			}
		}
	}
	for n := 1; n <= 2; n++ {
		if want := attemptTP("script", n); got[n] != want {
			t.Errorf("script run %d attempt %d: TRACEPARENT %q, want %q", runs["script"].ID, n, got[n], want)
		}
	}
}

// runSpans are the spans of one run, by attempt number.
type runSpans struct {
	dispatch                  *otlptest.Span
	claims, attempts, finishs map[int]otlptest.Span
}

func (rs runSpans) complete(attempts int) bool {
	return rs.dispatch != nil && len(rs.claims) == attempts && len(rs.attempts) == attempts && len(rs.finishs) == attempts
}

func spansOf(spans []otlptest.Span, runs map[string]jobs.Run) map[string]runSpans {
	out := map[string]runSpans{}
	for job, r := range runs {
		rs := runSpans{claims: map[int]otlptest.Span{}, attempts: map[int]otlptest.Span{}, finishs: map[int]otlptest.Span{}}
		id := strconv.FormatInt(r.ID, 10)
		for _, s := range spans {
			if s.Attrs[string(runtrace.KeyRunID)] != id {
				continue
			}
			n, _ := strconv.Atoi(s.Attrs[string(runtrace.KeyAttempt)])
			switch s.Name {
			case runtrace.SpanDispatch:
				rs.dispatch = &s
			case runtrace.SpanClaim:
				rs.claims[n] = s
			case runtrace.SpanAttempt:
				rs.attempts[n] = s
			case runtrace.SpanFinish:
				rs.finishs[n] = s
			}
		}
		out[job] = rs
	}
	return out
}

// checkRunTrace checks one run's span tree: one trace, the dispatch span
// from the leader (node-1) with the traceparent stored on the run, and
// each attempt's claim → attempt → finish chain from worker under it.
func checkRunTrace(t *testing.T, job string, r jobs.Run, rs runSpans, worker string) {
	t.Helper()
	d := rs.dispatch
	if want := "00-" + d.TraceID + "-" + d.SpanID + "-01"; r.Traceparent != want {
		t.Errorf("%s run %d: stored traceparent %q, want the dispatch span's %q", job, r.ID, r.Traceparent, want)
	}
	if d.ParentID != "" {
		t.Errorf("%s run %d: dispatch span has a parent %s, want a root", job, r.ID, d.ParentID)
	}
	if d.Resource["tock.node"] != "node-1" || d.Attrs[string(runtrace.KeyNode)] != "node-1" {
		t.Errorf("%s run %d: dispatch span from %q (attribute %q), want the leader node-1", job, r.ID, d.Resource["tock.node"], d.Attrs[string(runtrace.KeyNode)])
	}
	if d.Resource["service.name"] != "tock" {
		t.Errorf("%s run %d: service.name %q, want tock", job, r.ID, d.Resource["service.name"])
	}
	if tick := r.ScheduledAt.UTC().Format(time.RFC3339Nano); d.Attrs[string(runtrace.KeyTick)] != tick || d.Attrs[string(runtrace.KeyJob)] != job {
		t.Errorf("%s run %d: dispatch attributes %v, want job %s and tick %s", job, r.ID, d.Attrs, job, tick)
	}
	epoch := d.Attrs[string(runtrace.KeyEpoch)]
	if e, _ := strconv.Atoi(epoch); e < 1 {
		t.Errorf("%s run %d: dispatch epoch %q", job, r.ID, epoch)
	}
	for n := 1; n <= r.Attempt; n++ {
		claim, attempt, finish := rs.claims[n], rs.attempts[n], rs.finishs[n]
		for _, s := range []otlptest.Span{claim, attempt, finish} {
			if s.TraceID != d.TraceID {
				t.Errorf("%s run %d: %s span of attempt %d in trace %s, want the dispatch's %s", job, r.ID, s.Name, n, s.TraceID, d.TraceID)
			}
			if s.Resource["tock.node"] != worker || s.Attrs[string(runtrace.KeyNode)] != worker {
				t.Errorf("%s run %d: %s span of attempt %d from %q, want %s", job, r.ID, s.Name, n, s.Resource["tock.node"], worker)
			}
			if s.Attrs[string(runtrace.KeyJob)] != job || s.Attrs[string(runtrace.KeyEpoch)] != epoch || s.Attrs[string(runtrace.KeyTick)] != d.Attrs[string(runtrace.KeyTick)] {
				t.Errorf("%s run %d: %s span attributes %v, want job, epoch %s and tick of the dispatch", job, r.ID, s.Name, s.Attrs, epoch)
			}
		}
		if claim.ParentID != d.SpanID || attempt.ParentID != claim.SpanID || finish.ParentID != attempt.SpanID {
			t.Errorf("%s run %d attempt %d: parents claim→%s attempt→%s finish→%s, want dispatch %s, claim %s, attempt %s",
				job, r.ID, n, claim.ParentID, attempt.ParentID, finish.ParentID, d.SpanID, claim.SpanID, attempt.SpanID)
		}
		wantStatus, wantRun := "succeeded", "succeeded"
		if n < r.Attempt {
			wantStatus, wantRun = "failed", "queued"
		}
		if attempt.Attrs[string(runtrace.KeyStatus)] != wantStatus || attempt.StatusError != (wantStatus != "succeeded") {
			t.Errorf("%s run %d attempt %d: attempt span status %q (error %v), want %s", job, r.ID, n, attempt.Attrs[string(runtrace.KeyStatus)], attempt.StatusError, wantStatus)
		}
		if finish.Attrs[string(runtrace.KeyRunStatus)] != wantRun {
			t.Errorf("%s run %d attempt %d: finish span run status %q, want %s", job, r.ID, n, finish.Attrs[string(runtrace.KeyRunStatus)], wantRun)
		}
	}
}
