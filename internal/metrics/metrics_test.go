package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/alerting"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/worker"
)

// scrape returns the text exposition of m.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler(nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("scraping: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading scrape: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

// fed returns Metrics that saw one of every event and observe sources.
func fed(t *testing.T) *Metrics {
	t.Helper()
	m := New()
	se, we, ae := m.SchedulerEvents(), m.WorkerEvents(), m.AlertEvents()
	se.Dispatched([]storage.NewRun{
		{Job: "backup", Status: jobs.StatusQueued},
		{Job: "backup", Status: jobs.StatusQueued},
		{Job: "report", Status: jobs.StatusMissed, Trigger: jobs.TriggerCatchup},
		{Job: "report", Status: jobs.StatusSkipped},
	}, 1)
	se.Reaped("lost", 2)
	se.StoreError("dispatch", errors.New("boom"))
	se.RenewFailed(errors.New("timeout"))
	ae.Alert(alerting.Alert{Job: "backup", Kind: alerting.AlertFailures, Firing: true})
	ae.Alert(alerting.Alert{Job: "report", Kind: alerting.AlertLate, Firing: true})
	ae.Alert(alerting.Alert{Job: "report", Kind: alerting.AlertLate, Firing: false})
	ae.StoreError("alerts", errors.New("timeout"))
	we.Started(jobs.Run{Job: "backup"}, 1500*time.Millisecond)
	we.Started(jobs.Run{Job: "backup"}, -time.Second) // clock skew counts as on time
	we.Finished(jobs.Run{Job: "backup", Status: jobs.StatusFailed, Trigger: jobs.TriggerSchedule}, executor.Result{Status: jobs.StatusFailed, Duration: 3 * time.Second})
	we.Finished(jobs.Run{Job: "load", Status: jobs.StatusSucceeded, Trigger: jobs.TriggerDependency}, executor.Result{Status: jobs.StatusSucceeded})
	we.Finished(jobs.Run{Job: "backup", Status: jobs.StatusSucceeded, Trigger: jobs.TriggerBackfill}, executor.Result{Status: jobs.StatusSucceeded, Duration: 0})
	we.Finished(jobs.Run{Job: "backup", Status: jobs.StatusSucceeded, Trigger: jobs.TriggerManual}, executor.Result{Status: jobs.StatusSucceeded, Duration: 0})
	we.Finished(jobs.Run{Job: "backup", Status: jobs.StatusQueued}, executor.Result{Status: jobs.StatusTimedOut, Duration: time.Minute})
	we.Finished(jobs.Run{}, executor.Result{Status: jobs.StatusSucceeded})
	we.StoreError("heartbeat", errors.New("gone"))
	se.Pruned(1000)
	se.Pruned(7)
	we.BreakerChanged("http://dead.example:8080", worker.BreakerClosed)
	we.BreakerChanged("http://dead.example:8080", worker.BreakerOpen)
	we.BreakerChanged("https://api.example.com:443", worker.BreakerHalfOpen)
	m.Observe(Sources{
		QueueLen:     func(context.Context) (int64, error) { return 7, nil },
		Busy:         func() int { return 3 },
		Capacity:     func() int { return 16 },
		IsLeader:     func() bool { return true },
		Epoch:        func() int64 { return 42 },
		LeaseBackend: func() string { return "mysql" },
		ConfigState:  func() (error, int64) { return errors.New("tock.yaml:3: bad"), 2 },
		Jobs:         func() int { return 5 },
	})
	return m
}

func TestMetricValues(t *testing.T) {
	t.Parallel()
	out := scrape(t, fed(t))
	for _, want := range []string{
		`tock_runs_total{job="backup",status="failed",trigger="schedule"} 1`,
		`tock_runs_total{job="report",status="missed",trigger="catchup"} 1`,
		`tock_runs_total{job="load",status="succeeded",trigger="dependency"} 1`,
		`tock_runs_total{job="backup",status="succeeded",trigger="backfill"} 1`,
		`tock_runs_total{job="backup",status="succeeded",trigger="manual"} 1`,
		`tock_attempts_total{job="backup",status="failed"} 1`,
		`tock_attempts_total{job="backup",status="timed_out"} 1`,
		`tock_run_duration_seconds_count{job="backup"} 4`,
		`tock_run_duration_seconds_sum{job="backup"} 63`,
		`tock_fire_delay_seconds_count 2`,
		`tock_fire_delay_seconds_sum 1.5`,
		`tock_fire_delay_seconds_bucket{le="0.005"} 1`,
		`tock_dispatched_total{status="queued"} 1`,
		`tock_dispatched_total{status="missed"} 1`,
		`tock_dispatched_total{status="skipped"} 2`,
		`tock_reaper_actions_total{kind="lost"} 2`,
		`tock_reaper_actions_total{kind="unclaimed"} 0`,
		`tock_store_errors_total{op="dispatch"} 1`,
		`tock_store_errors_total{op="heartbeat"} 1`,
		`tock_store_errors_total{op="alerts"} 1`,
		`tock_lease_renewal_failures_total 1`,
		`tock_queue_depth 7`,
		`tock_worker_slots{state="busy"} 3`,
		`tock_worker_slots{state="capacity"} 16`,
		`tock_leader 1`,
		`tock_leader_epoch 42`,
		`tock_lease_backend{backend="mysql"} 1`,
		`tock_lease_backend{backend="redis"} 0`,
		`tock_config_reload_failures_total 2`,
		`tock_config_valid 0`,
		`tock_jobs 5`,
		`tock_history_pruned_total 1007`,
		`tock_http_breaker_state{target="http://dead.example:8080"} 2`,
		`tock_http_breaker_state{target="https://api.example.com:443"} 1`,
		`tock_job_alert{alert="failures",job="backup"} 1`,
		`tock_job_alert{alert="late",job="report"} 0`,
		`go_goroutines `,
		`process_start_time_seconds `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	// The queued retry is not a finished run, and the unrecorded result
	// has no job: neither is counted as a run.
	for _, bad := range []string{`tock_runs_total{job="backup",status="queued"}`, `job=""`} {
		if strings.Contains(out, bad) {
			t.Errorf("scrape has %q", bad)
		}
	}
}

// TestJobAlertClearedOnStepDown: an ex-leader no longer watches alerts, so
// it exports none rather than what it last saw.
func TestJobAlertClearedOnStepDown(t *testing.T) {
	t.Parallel()
	m := New()
	se, ae := m.SchedulerEvents(), m.AlertEvents()
	ae.Alert(alerting.Alert{Job: "backup", Kind: alerting.AlertLate, Firing: true})
	if out := scrape(t, m); !strings.Contains(out, `tock_job_alert{alert="late",job="backup"} 1`) {
		t.Fatalf("firing alert not exported:\n%s", out)
	}
	se.SteppedDown(3, errors.New("lease lost"))
	if out := scrape(t, m); strings.Contains(out, "tock_job_alert{") {
		t.Errorf("ex-leader still exports alerts:\n%s", out)
	}
}

func TestMetricsWithoutSources(t *testing.T) {
	t.Parallel()
	m := New()
	m.Observe(Sources{})
	m.Observe(Sources{IsLeader: func() bool { return true }}) // ignored: Observe is once
	out := scrape(t, m)
	for _, want := range []string{"tock_leader 0", "tock_queue_depth 0", `tock_worker_slots{state="capacity"} 0`, "tock_config_valid 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func TestQueueDepthFailure(t *testing.T) {
	t.Parallel()
	m := New()
	m.Observe(Sources{QueueLen: func(ctx context.Context) (int64, error) {
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) > QueueLenTimeout {
			t.Errorf("queue length read without a deadline of at most %s", QueueLenTimeout)
		}
		return 0, context.DeadlineExceeded // a queue that did not answer in time
	}})
	if out := scrape(t, m); !strings.Contains(out, "tock_queue_depth NaN") {
		t.Errorf("scrape lacks NaN queue depth:\n%s", out)
	}
	// The failure is counted while a scrape gathers, so the next scrape
	// shows at least the first one (and maybe its own).
	out := scrape(t, m)
	if !strings.Contains(out, `tock_store_errors_total{op="queue_len"} 1`) && !strings.Contains(out, `tock_store_errors_total{op="queue_len"} 2`) {
		t.Errorf("scrape lacks the queue_len store errors:\n%s", out)
	}
}

// TestPromtoolCheckMetrics lints the exposition with Prometheus's own
// checker (Debian package prometheus; scripts/test.sh installs it).
func TestPromtoolCheckMetrics(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is missing in CI: scripts/test.sh must install the Debian package prometheus")
		}
		t.Skip("SKIPPING: promtool not found; install it with `apt-get install -y --no-install-recommends prometheus` (scripts/test.sh does)")
	}
	out := scrape(t, fed(t))
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(out)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Fatalf("promtool check metrics reported problems:\n%s", s)
	}
}

// TestNames checks Names against what a scrape shows once every collector
// has a series, and that it lists vectors before they have any.
func TestNames(t *testing.T) {
	t.Parallel()
	fresh := New()
	has := func(names []string, n string) bool { return slices.Contains(names, n) }
	names := fresh.Names()
	for _, n := range []string{"tock_http_breaker_state", "tock_runs_total", "tock_run_duration_seconds_bucket", "tock_fire_delay_seconds_count", "go_goroutines"} {
		if !has(names, n) {
			t.Errorf("Names of a fresh Metrics lacks %s", n)
		}
	}
	if has(names, "tock_leader") {
		t.Errorf("Names lists tock_leader before Observe registered it")
	}
	fresh.Observe(Sources{})
	if names := fresh.Names(); !has(names, "tock_leader") || !has(names, "tock_worker_slots") {
		t.Errorf("Names after Observe lacks the observed gauges: %v", names)
	}

	// fed touches every collector, so its scrape shows every family.
	m := fed(t)
	want := map[string]bool{}
	for _, mf := range m.Registry().MustGather() {
		n := mf.GetName()
		if !strings.HasPrefix(n, "tock_") {
			continue
		}
		want[n] = true
		if mf.GetType().String() == "HISTOGRAM" {
			want[n+"_bucket"], want[n+"_sum"], want[n+"_count"] = true, true, true
		}
	}
	got := map[string]bool{}
	for _, n := range m.Names() {
		if strings.HasPrefix(n, "tock_") {
			got[n] = true
		}
	}
	for n := range want {
		if !got[n] {
			t.Errorf("Names lacks %s, which a scrape shows", n)
		}
	}
	for n := range got {
		if !want[n] {
			t.Errorf("Names lists %s, which no scrape shows", n)
		}
	}
	if !slices.IsSorted(m.Names()) {
		t.Errorf("Names is not sorted")
	}
}
