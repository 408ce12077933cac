//go:build linux

package executor_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

// fence and scheduledAt are the attempt the tests below identify.
var (
	testFence       = jobs.Fence{Epoch: 7, RunID: 4711, Attempt: 2}
	testScheduledAt = time.Date(2026, 11, 28, 12, 0, 0, 0, time.FixedZone("CET", 3600))
)

// attemptEnvNames are the variables Options.Fence and ScheduledAt set.
var attemptEnvNames = []string{"TOCK_JOB", "TOCK_RUN_ID", "TOCK_ATTEMPT", "TOCK_FENCE", "TOCK_IDEMPOTENCY_KEY", "TOCK_SCHEDULED_AT"}

func TestExecuteAttemptEnv(t *testing.T) {
	t.Parallel()
	// The script prints each variable as NAME=value, or NAME unset.
	var script strings.Builder
	for _, n := range attemptEnvNames {
		script.WriteString(`if [ -n "${` + n + `+x}" ]; then echo "` + n + `=$` + n + `"; else echo "` + n + ` unset"; fi; `)
	}
	all := "TOCK_JOB=fenced\nTOCK_RUN_ID=4711\nTOCK_ATTEMPT=2\nTOCK_FENCE=7.4711.2\n" +
		"TOCK_IDEMPOTENCY_KEY=tock-run-4711\nTOCK_SCHEDULED_AT=2026-11-28T11:00:00Z\n"
	tests := []struct {
		name    string
		jobEnv  map[string]string
		opts    executor.Options
		want    string
		command bool // run as a command job instead of a shell job
	}{
		{
			name: "no fence: nothing set",
			want: "TOCK_JOB unset\nTOCK_RUN_ID unset\nTOCK_ATTEMPT unset\nTOCK_FENCE unset\nTOCK_IDEMPOTENCY_KEY unset\nTOCK_SCHEDULED_AT unset\n",
		},
		{
			name: "fence and scheduled time",
			opts: executor.Options{Fence: testFence, ScheduledAt: testScheduledAt},
			want: all,
		},
		{
			name:    "command job gets them too",
			opts:    executor.Options{Fence: testFence, ScheduledAt: testScheduledAt},
			want:    all,
			command: true,
		},
		{
			name: "scheduled time alone",
			opts: executor.Options{ScheduledAt: testScheduledAt},
			want: "TOCK_JOB unset\nTOCK_RUN_ID unset\nTOCK_ATTEMPT unset\nTOCK_FENCE unset\nTOCK_IDEMPOTENCY_KEY unset\nTOCK_SCHEDULED_AT=2026-11-28T11:00:00Z\n",
		},
		{
			name:   "job env and options cannot override them",
			jobEnv: map[string]string{"TOCK_FENCE": "99.4711.9", "TOCK_IDEMPOTENCY_KEY": "mine", "TOCK_JOB": "other"},
			opts: executor.Options{Fence: testFence, ScheduledAt: testScheduledAt,
				Env: []string{"TOCK_RUN_ID=1", "TOCK_ATTEMPT=1", "TOCK_SCHEDULED_AT=never"}},
			want: all,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := &jobs.Job{Name: "fenced", Shell: script.String(), Env: tt.jobEnv}
			if tt.command {
				j.Shell, j.Command = "", []string{"/bin/sh", "-c", script.String()}
			}
			res := executor.Execute(context.Background(), j, tt.opts)
			if res.Status != jobs.StatusSucceeded || res.Output != tt.want {
				t.Fatalf("got status %q error %q output:\n%s\nwant:\n%s", res.Status, res.Error, res.Output, tt.want)
			}
		})
	}
}

func TestExecuteFenceEcho(t *testing.T) {
	t.Parallel()
	j := &jobs.Job{Name: "echo", Command: []string{"sh", "-c", "echo $TOCK_FENCE"}}
	res := executor.Execute(context.Background(), j, executor.Options{Fence: testFence})
	if res.Status != jobs.StatusSucceeded || res.Output != "7.4711.2\n" {
		t.Fatalf("got %+v, want output 7.4711.2", res)
	}
	f, err := jobs.ParseFence(strings.TrimSpace(res.Output))
	if err != nil || f != testFence {
		t.Fatalf("the job's TOCK_FENCE parses as (%v, %v), want %v", f, err, testFence)
	}
}

func TestExecuteHTTPAttemptHeaders(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
	}))
	defer srv.Close()

	all := map[string]string{
		"X-Tock-Job":          "hook",
		"X-Tock-Run-Id":       "4711",
		"X-Tock-Attempt":      "2",
		"X-Tock-Fence":        "7.4711.2",
		"Idempotency-Key":     "tock-run-4711",
		"X-Tock-Scheduled-At": "2026-11-28T11:00:00Z",
	}
	none := map[string]string{}
	for k := range all {
		none[k] = ""
	}
	tests := []struct {
		name    string
		headers map[string]string
		opts    executor.Options
		want    map[string]string // "" means absent
	}{
		{name: "no fence: no tock headers", want: none},
		{name: "fence and scheduled time", opts: executor.Options{Fence: testFence, ScheduledAt: testScheduledAt}, want: all},
		{
			name: "tock's headers win over the job's",
			headers: map[string]string{"x-tock-fence": "99.4711.9", "Idempotency-Key": "mine", "X-TOCK-ATTEMPT": "9",
				"X-Token": "kept"},
			opts: executor.Options{Fence: testFence, ScheduledAt: testScheduledAt},
			want: func() map[string]string {
				m := map[string]string{"X-Token": "kept"}
				for k, v := range all {
					m[k] = v
				}
				return m
			}(),
		},
		{
			name:    "no fence: the job's own headers stay",
			headers: map[string]string{"Idempotency-Key": "mine"},
			want:    map[string]string{"Idempotency-Key": "mine", "X-Tock-Fence": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			j := &jobs.Job{Name: "hook", HTTP: &jobs.HTTPSpec{URL: srv.URL, Headers: tt.headers}}
			res := executor.Execute(context.Background(), j, tt.opts)
			if res.Status != jobs.StatusSucceeded {
				t.Fatalf("got %+v", res)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(seen))
			}
			h := seen[0]
			for k, want := range tt.want {
				if got := h.Values(k); want == "" && len(got) != 0 || want != "" && (len(got) != 1 || got[0] != want) {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

var errFenced = errors.New("fenced: epoch 8 is current, the attempt has 7")

func TestExecuteStartGate(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	defer srv.Close()

	type kind struct {
		name string
		// job returns a job whose start leaves a trace, and started
		// reports whether the trace is there.
		job func(t *testing.T) (j *jobs.Job, started func() bool)
	}
	process := func(shell bool) func(t *testing.T) (*jobs.Job, func() bool) {
		return func(t *testing.T) (*jobs.Job, func() bool) {
			marker := filepath.Join(t.TempDir(), "ran")
			j := &jobs.Job{Name: "t", Command: []string{"touch", marker}}
			if shell {
				j = &jobs.Job{Name: "t", Shell: `touch "$MARKER"`, Env: map[string]string{"MARKER": marker}}
			}
			return j, func() bool {
				_, err := os.Stat(marker)
				return err == nil
			}
		}
	}
	httpJob := func(t *testing.T) (*jobs.Job, func() bool) {
		before := requests.Load()
		return &jobs.Job{Name: "hook", HTTP: &jobs.HTTPSpec{URL: srv.URL}}, func() bool { return requests.Load() != before }
	}
	kinds := []kind{
		{"command", process(false)},
		{"shell", process(true)},
		{"http", httpJob},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Run("refused", func(t *testing.T) {
				j, started := k.job(t)
				calls := 0
				gate := func() error {
					calls++
					return errFenced
				}
				res := executor.Execute(context.Background(), j, executor.Options{Fence: testFence, StartGate: gate})
				if !res.NotStarted || res.Status != jobs.StatusCanceled || res.Error != "not started: "+errFenced.Error() ||
					res.ExitCode != nil || res.Output != "" {
					t.Errorf("got %+v, want canceled, not started", res)
				}
				if calls != 1 {
					t.Errorf("StartGate called %d times, want 1", calls)
				}
				if started() {
					t.Error("the attempt started although StartGate refused it")
				}
			})
			t.Run("allowed", func(t *testing.T) {
				j, started := k.job(t)
				calls := 0
				gate := func() error {
					calls++
					if started() {
						t.Error("StartGate called after the attempt started")
					}
					return nil
				}
				res := executor.Execute(context.Background(), j, executor.Options{Fence: testFence, StartGate: gate})
				if res.NotStarted || res.Status != jobs.StatusSucceeded {
					t.Errorf("got %+v, want succeeded", res)
				}
				if calls != 1 {
					t.Errorf("StartGate called %d times, want 1", calls)
				}
				if !started() {
					t.Error("the attempt did not start")
				}
			})
		})
	}

	t.Run("not called when the job cannot be built", func(t *testing.T) {
		called := false
		gate := func() error { called = true; return nil }
		res := executor.Execute(context.Background(), &jobs.Job{Name: "hook", HTTP: &jobs.HTTPSpec{URL: "://nope"}},
			executor.Options{StartGate: gate})
		if called || res.NotStarted || res.Status != jobs.StatusFailed {
			t.Errorf("gate called %t, result %+v; want a failed attempt without a gate call", called, res)
		}
	})
	t.Run("not called when ctx already ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		called := false
		gate := func() error { called = true; return nil }
		res := executor.Execute(ctx, &jobs.Job{Name: "t", Command: []string{"true"}}, executor.Options{StartGate: gate})
		if called || res.NotStarted || res.Status != jobs.StatusCanceled {
			t.Errorf("gate called %t, result %+v; want canceled without a gate call", called, res)
		}
	})
}

// A StartGate may block until the attempt is due: the job starts only
// after the gate let it.
func TestExecuteStartGateWaits(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	j := &jobs.Job{Name: "t", Shell: `date +%s%N > "$MARKER"`, Env: map[string]string{"MARKER": marker}}
	var opened time.Time
	gate := func() error {
		time.Sleep(300 * time.Millisecond)
		if _, err := os.Stat(marker); err == nil {
			return errors.New("the job ran before the gate answered")
		}
		opened = time.Now()
		return nil
	}
	res := executor.Execute(context.Background(), j, executor.Options{Fence: testFence, StartGate: gate})
	if res.Status != jobs.StatusSucceeded {
		t.Fatalf("got %+v, want succeeded", res)
	}
	b, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if ran := time.Unix(0, ns); ran.Before(opened) {
		t.Fatalf("the job started %s before the gate opened", opened.Sub(ran))
	}
}

// Refused attempts leave no descriptor open (the output pipe made before
// the gate is asked). Not parallel: it counts this process's descriptors, which other
// tests would open and close meanwhile.
func TestRefusedAttemptsLeaveNoDescriptors(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	for range 20 {
		j := &jobs.Job{Name: "t", Command: []string{"true"}}
		if res := executor.Execute(context.Background(), j, executor.Options{StartGate: func() error { return errFenced }}); !res.NotStarted {
			t.Fatalf("got %+v", res)
		}
	}
	if after := fds(); after > before {
		t.Errorf("%d descriptors open after 20 refused attempts, %d before", after, before)
	}
}
