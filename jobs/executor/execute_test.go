//go:build linux

package executor_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

// deathWait bounds how long a test waits for a killed process to be gone:
// signal delivery and exit are asynchronous, but fast.
const deathWait = 5 * time.Second

func TestExecuteProcess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		job      jobs.Job
		status   jobs.RunStatus
		exitCode int // -1: nil
		errText  string
		output   string
	}{
		{
			name:   "command succeeds",
			job:    jobs.Job{Command: []string{"echo", "hello", "world"}},
			status: jobs.StatusSucceeded, exitCode: 0, output: "hello world\n",
		},
		{
			name:   "command exits 3",
			job:    jobs.Job{Command: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}},
			status: jobs.StatusFailed, exitCode: 3, errText: "exit status 3", output: "out\nerr\n",
		},
		{
			name:   "missing binary",
			job:    jobs.Job{Command: []string{"/no/such"}},
			status: jobs.StatusFailed, exitCode: -1, errText: "starting /no/such: no such file or directory",
		},
		{
			name:   "binary not in PATH",
			job:    jobs.Job{Command: []string{"no-such-tock-test-binary"}},
			status: jobs.StatusFailed, exitCode: -1, errText: "starting no-such-tock-test-binary: executable file not found in $PATH",
		},
		{
			name:   "shell pipeline",
			job:    jobs.Job{Shell: `printf 'b\na\nc\n' | sort | tr a-z A-Z`},
			status: jobs.StatusSucceeded, exitCode: 0, output: "A\nB\nC\n",
		},
		{
			name:   "stdout and stderr interleave in order",
			job:    jobs.Job{Shell: "echo 1; echo 2 >&2; echo 3; echo 4 >&2"},
			status: jobs.StatusSucceeded, exitCode: 0, output: "1\n2\n3\n4\n",
		},
		{
			name:   "killed by a signal",
			job:    jobs.Job{Shell: "echo before; kill -KILL $$"},
			status: jobs.StatusFailed, exitCode: 137, errText: "signal: killed", output: "before\n",
		},
		{
			name:   "exit 137 is not a signal",
			job:    jobs.Job{Shell: "exit 137"},
			status: jobs.StatusFailed, exitCode: 137, errText: "exit status 137",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := tt.job
			j.Name = "t"
			res := executor.Execute(context.Background(), &j, executor.Options{})
			if res.Status != tt.status {
				t.Errorf("Status = %q, want %q (result %+v)", res.Status, tt.status, res)
			}
			checkExitCode(t, res.ExitCode, tt.exitCode)
			if res.Error != tt.errText {
				t.Errorf("Error = %q, want %q", res.Error, tt.errText)
			}
			if res.Output != tt.output {
				t.Errorf("Output = %q, want %q", res.Output, tt.output)
			}
			if res.Duration <= 0 {
				t.Errorf("Duration = %v, want > 0", res.Duration)
			}
		})
	}
}

func TestExecuteEnv(t *testing.T) {
	t.Setenv("TOCK_TEST_PARENT_VAR", "from-parent")
	j := &jobs.Job{
		Name:  "env",
		Shell: `echo "$TOCK_TEST_PARENT_VAR $JOB_VAR $SHARED $TOCK_RUN_ID ${TOCK_EXEC_PARENT-unset}"`,
		Env:   map[string]string{"JOB_VAR": "from-job", "SHARED": "job"},
	}
	opts := executor.Options{Env: []string{"TOCK_RUN_ID=42", "SHARED=opts"}}
	res := executor.Execute(context.Background(), j, opts)
	want := "from-parent from-job opts 42 unset\n"
	if res.Status != jobs.StatusSucceeded || res.Output != want {
		t.Fatalf("got %q (%+v), want output %q", res.Output, res, want)
	}
}

func TestExecuteStartFailures(t *testing.T) {
	t.Run("supervisor missing", func(t *testing.T) {
		j := &jobs.Job{Name: "t", Command: []string{"true"}}
		res := executor.Execute(context.Background(), j, executor.Options{Supervisor: executor.NewSupervisor("/no/such/tock-exec")})
		if res.Status != jobs.StatusFailed || res.ExitCode != nil || !strings.Contains(res.Error, "/no/such/tock-exec: no such file or directory") {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("supervisor not found", func(t *testing.T) {
		t.Setenv(executor.SupervisorEnv, "")
		t.Setenv("PATH", t.TempDir())
		_, err := executor.FindSupervisor()
		if err == nil || !strings.Contains(err.Error(), "tock-exec, the supervisor command and shell jobs run under, is neither beside") {
			t.Fatalf("FindSupervisor: %v", err)
		}
		t.Setenv(executor.SupervisorEnv, "/no/such/tock-exec")
		if _, err := executor.FindSupervisor(); err == nil || !strings.Contains(err.Error(), "TOCK_EXEC=/no/such/tock-exec") {
			t.Fatalf("FindSupervisor with a bad TOCK_EXEC: %v", err)
		}
	})
	t.Run("no executor", func(t *testing.T) {
		res := executor.Execute(context.Background(), &jobs.Job{Name: "empty"}, executor.Options{})
		if res.Status != jobs.StatusFailed || res.Error != `jobs: job "empty" has no executor` {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("already canceled", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "ran")
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(errors.New("shutting down"))
		j := &jobs.Job{Name: "t", Command: []string{"touch", marker}}
		res := executor.Execute(ctx, j, executor.Options{})
		if res.Status != jobs.StatusCanceled || res.Error != "canceled: shutting down" {
			t.Fatalf("got %+v", res)
		}
		if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the job ran: stat %s: %v", marker, err)
		}
	})
}

func TestExecuteTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	j := &jobs.Job{
		Name:     "slow",
		Shell:    `sleep 60 & echo $! > "$PID_FILE"; echo started; wait`,
		Env:      map[string]string{"PID_FILE": pidFile},
		Settings: &jobs.Settings{Timeout: time.Second},
	}
	res := executor.Execute(context.Background(), j, executor.Options{KillGrace: 500 * time.Millisecond})
	if res.Status != jobs.StatusTimedOut || res.Error != "timed out after 1s" {
		t.Fatalf("got %+v, want timed_out", res)
	}
	// The shell died of the SIGTERM sent to the group, and tock-exec says so.
	checkExitCode(t, res.ExitCode, 128+int(syscall.SIGTERM))
	if res.Output != "started\n" {
		t.Errorf("Output = %q", res.Output)
	}
	if res.Duration < time.Second {
		t.Errorf("Duration = %v, want ≥ the timeout", res.Duration)
	}
	for _, pid := range readPIDs(t, pidFile, 1) {
		waitGone(t, pid)
	}
}

func TestExecuteCancelKillsGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	j := &jobs.Job{
		Name:  "slow",
		Shell: `sleep 60 & echo $$ $! > "$PID_FILE.tmp" && mv "$PID_FILE.tmp" "$PID_FILE"; wait`,
		Env:   map[string]string{"PID_FILE": pidFile},
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan executor.Result, 1)
	go func() { done <- executor.Execute(ctx, j, executor.Options{KillGrace: 2 * time.Second}) }()

	pids := waitPIDs(t, pidFile, 2, done)
	cancel(errors.New("operator asked"))
	res := <-done
	if res.Status != jobs.StatusCanceled || res.Error != "canceled: operator asked" {
		t.Fatalf("got %+v, want canceled", res)
	}
	for _, pid := range pids {
		waitGone(t, pid)
	}
}

func TestExecuteSIGKILLAfterGrace(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	// The shell and its background sleep both ignore SIGTERM (an ignored
	// signal stays ignored across fork and exec).
	j := &jobs.Job{
		Name:  "stubborn",
		Shell: `trap '' TERM; sleep 60 & echo $$ $! > "$PID_FILE.tmp" && mv "$PID_FILE.tmp" "$PID_FILE"; wait`,
		Env:   map[string]string{"PID_FILE": pidFile},
	}
	const grace = 300 * time.Millisecond
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan executor.Result, 1)
	go func() { done <- executor.Execute(ctx, j, executor.Options{KillGrace: grace}) }()

	pids := waitPIDs(t, pidFile, 2, done)
	stopAt := time.Now()
	cancel(errors.New("stop"))
	res := <-done
	if res.Status != jobs.StatusCanceled || res.Error != "canceled: stop" {
		t.Fatalf("got %+v, want canceled", res)
	}
	if waited := time.Since(stopAt); waited < grace {
		t.Errorf("Execute returned %v after the cancel, before the %v grace: SIGTERM was not ignored?", waited, grace)
	}
	// SIGKILL to the group: tock-exec reports the signal.
	checkExitCode(t, res.ExitCode, 128+int(syscall.SIGKILL))
	for _, pid := range pids {
		waitGone(t, pid)
	}
}

func TestExecuteStopsLeftovers(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	// The shell exits at once; the sleep it leaves holds the output pipe.
	j := &jobs.Job{
		Name:  "leaves-a-child",
		Shell: `sleep 60 & echo $! > "$PID_FILE"; echo done`,
		Env:   map[string]string{"PID_FILE": pidFile},
	}
	res := executor.Execute(context.Background(), j, executor.Options{KillGrace: 2 * time.Second})
	if res.Status != jobs.StatusSucceeded || res.Output != "done\n" {
		t.Fatalf("got %+v", res)
	}
	for _, pid := range readPIDs(t, pidFile, 1) {
		waitGone(t, pid)
	}
}

func TestExecutePipeHeldOutsideGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	// A daemon that left the group (setsid) keeps the output pipe open; it
	// is out of reach of group signals, and Execute must not wait for it.
	j := &jobs.Job{
		Name: "daemonizes",
		Shell: `setsid sh -c 'echo $$ > "$PID_FILE.tmp" && mv "$PID_FILE.tmp" "$PID_FILE"; exec sleep 30' &
while [ ! -s "$PID_FILE" ]; do sleep 0.01; done
echo done`,
		Env: map[string]string{"PID_FILE": pidFile},
	}
	res := executor.Execute(context.Background(), j, executor.Options{KillGrace: time.Second})
	pids := readPIDs(t, pidFile, 1)
	t.Cleanup(func() { _ = syscall.Kill(pids[0], syscall.SIGKILL) })
	if res.Status != jobs.StatusSucceeded || res.Output != "done\n" {
		t.Fatalf("got %+v", res)
	}
	if gone(pids[0]) {
		t.Fatalf("the daemon %d outside the group died; the test proves nothing", pids[0])
	}
	if res.Duration > 20*time.Second {
		t.Fatalf("Execute took %v: it waited for the daemon to close the pipe", res.Duration)
	}
}

// TestExecuteNoOrphansAfterKill9 runs a fake tock (this binary, see
// runFakeTock) whose job starts a background sleep, SIGKILLs the fake tock
// and checks that tock-exec took the job and its child down with it.
func TestExecuteNoOrphansAfterKill9(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	var stderr bytes.Buffer
	fake := exec.Command(os.Args[0], "-test.run=^$")
	fake.Env = append(os.Environ(), fakeTockEnv+"="+pidFile)
	fake.Stderr = &stderr
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		_ = fake.Wait() // killed: the error is the signal
	}()
	t.Cleanup(func() {
		_ = fake.Process.Kill()
		<-exited
	})

	pids := waitPIDs(t, pidFile, 2, nil)
	supPID := parentOf(t, pids[0])
	if supPID == fake.Process.Pid {
		t.Fatalf("the job's shell %d is tock's direct child: no supervisor in between", pids[0])
	}
	if got := parentOf(t, supPID); got != fake.Process.Pid {
		t.Fatalf("the supervisor %d has parent %d, want the fake tock %d", supPID, got, fake.Process.Pid)
	}

	if err := fake.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	for _, pid := range append(pids, supPID) {
		waitGone(t, pid)
	}
	if t.Failed() {
		t.Logf("fake tock stderr:\n%s", stderr.String())
	}
}

func TestExecuteHugeOutput(t *testing.T) {
	const total = 200_000_000
	tests := []struct {
		name string
		job  jobs.Job
	}{
		{"yes piped to head", jobs.Job{Shell: fmt.Sprintf("yes | head -c %d", total)}},
		{"head of /dev/zero", jobs.Job{Command: []string{"head", "-c", strconv.Itoa(total), "/dev/zero"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GC()
			resetPeakRSS(t)
			before := peakRSS(t)
			j := tt.job
			j.Name = "chatty"
			res := executor.Execute(context.Background(), &j, executor.Options{})
			after := peakRSS(t)
			t.Logf("peak RSS (VmHWM) before %d KiB, after %d KiB; %d bytes of output in %v",
				before>>10, after>>10, total, res.Duration)
			if res.Status != jobs.StatusSucceeded {
				t.Fatalf("got %+v", res)
			}
			kept := int64(executor.DefaultOutputLimit)
			if res.OutputDropped != total-kept {
				t.Errorf("OutputDropped = %d, want %d", res.OutputDropped, total-kept)
			}
			if want := int(kept) + len(executor.DroppedMarker(total-kept)); len(res.Output) != want {
				t.Errorf("len(Output) = %d, want %d", len(res.Output), want)
			}
			if !strings.Contains(res.Output, executor.DroppedMarker(total-kept)) {
				t.Errorf("Output lacks the dropped marker")
			}
			if grew := after - before; grew > 100<<20 {
				t.Errorf("peak RSS grew by %d MiB for one capped job", grew>>20)
			}
		})
	}
}

func TestExecuteHTTP(t *testing.T) {
	t.Parallel()
	type request struct {
		method, path, token, host, body string
	}
	got := make(chan request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/echo" {
			got <- request{r.Method, r.URL.Path, r.Header.Get("X-Token"), r.Host, string(body)}
		}
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		if code == 0 {
			code = http.StatusOK
		}
		w.WriteHeader(code)
		if n, _ := strconv.Atoi(r.URL.Query().Get("size")); n > 0 {
			_, _ = w.Write(bytes.Repeat([]byte("x"), n))
			return
		}
		_, _ = fmt.Fprintf(w, "status %d", code)
	}))
	defer srv.Close()

	tests := []struct {
		name     string
		spec     jobs.HTTPSpec
		limit    int
		status   jobs.RunStatus
		exitCode int
		errText  string
		output   string
	}{
		{"200 is 2xx", jobs.HTTPSpec{URL: srv.URL + "/"}, 0, jobs.StatusSucceeded, 200, "", "status 200"},
		{"204 is 2xx", jobs.HTTPSpec{URL: srv.URL + "/?code=204"}, 0, jobs.StatusSucceeded, 204, "", ""},
		{"503 fails", jobs.HTTPSpec{URL: srv.URL + "/?code=503"}, 0, jobs.StatusFailed, 503, "http 503 not in success codes 2xx", "status 503"},
		{"304 is not 2xx", jobs.HTTPSpec{URL: srv.URL + "/?code=304"}, 0, jobs.StatusFailed, 304, "http 304 not in success codes 2xx", ""},
		{"listed code succeeds", jobs.HTTPSpec{URL: srv.URL + "/?code=204", Success: []int{200, 204}}, 0, jobs.StatusSucceeded, 204, "", ""},
		{"listed non-2xx succeeds", jobs.HTTPSpec{URL: srv.URL + "/?code=404", Success: []int{404}}, 0, jobs.StatusSucceeded, 404, "", "status 404"},
		{"unlisted 200 fails", jobs.HTTPSpec{URL: srv.URL + "/", Success: []int{204}}, 0, jobs.StatusFailed, 200, "http 200 not in success codes [204]", "status 200"},
		{"503 with list", jobs.HTTPSpec{URL: srv.URL + "/?code=503", Success: []int{200, 204}}, 0, jobs.StatusFailed, 503, "http 503 not in success codes [200 204]", "status 503"},
		{"bad url", jobs.HTTPSpec{URL: "://nope"}, 0, jobs.StatusFailed, -1, `building request: parse "://nope": missing protocol scheme`, ""},
		{"bad method", jobs.HTTPSpec{Method: "GET ME", URL: srv.URL}, 0, jobs.StatusFailed, -1, `building request: net/http: invalid method "GET ME"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			j := &jobs.Job{Name: "hook", HTTP: &spec}
			res := executor.Execute(context.Background(), j, executor.Options{OutputLimit: tt.limit})
			if res.Status != tt.status || res.Error != tt.errText || res.Output != tt.output {
				t.Errorf("got status %q error %q output %q, want %q %q %q", res.Status, res.Error, res.Output, tt.status, tt.errText, tt.output)
			}
			checkExitCode(t, res.ExitCode, tt.exitCode)
		})
	}

	t.Run("request is sent as specified", func(t *testing.T) {
		j := &jobs.Job{Name: "hook", HTTP: &jobs.HTTPSpec{
			Method:  http.MethodPost,
			URL:     srv.URL + "/echo",
			Headers: map[string]string{"X-Token": "secret", "Host": "svc.example"},
			Body:    `{"a":1}`,
		}}
		res := executor.Execute(context.Background(), j, executor.Options{})
		if res.Status != jobs.StatusSucceeded {
			t.Fatalf("got %+v", res)
		}
		want := request{"POST", "/echo", "secret", "svc.example", `{"a":1}`}
		if r := <-got; r != want {
			t.Fatalf("server saw %+v, want %+v", r, want)
		}
	})

	t.Run("body is capped", func(t *testing.T) {
		const size, limit = 1 << 20, 1000
		j := &jobs.Job{Name: "hook", HTTP: &jobs.HTTPSpec{URL: fmt.Sprintf("%s/?size=%d", srv.URL, size)}}
		res := executor.Execute(context.Background(), j, executor.Options{OutputLimit: limit})
		want := strings.Repeat("x", limit/2) + executor.DroppedMarker(size-limit) + strings.Repeat("x", limit/2)
		if res.Status != jobs.StatusSucceeded || res.OutputDropped != size-limit || res.Output != want {
			t.Fatalf("got status %q, dropped %d, output of %d bytes", res.Status, res.OutputDropped, len(res.Output))
		}
	})

	t.Run("transport error", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		res := executor.Execute(context.Background(), &jobs.Job{Name: "hook", HTTP: &jobs.HTTPSpec{URL: url}}, executor.Options{})
		if res.Status != jobs.StatusFailed || res.ExitCode != nil || !strings.Contains(res.Error, "connection refused") {
			t.Fatalf("got %+v", res)
		}
	})
}

func TestExecuteHTTPStopped(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("headers") != "" {
			// Answer, then stall the body.
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		if r.URL.Query().Get("notify") != "" {
			arrived <- struct{}{}
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	t.Run("timeout before the response", func(t *testing.T) {
		j := &jobs.Job{Name: "hook", HTTP: &jobs.HTTPSpec{URL: srv.URL}, Settings: &jobs.Settings{Timeout: 100 * time.Millisecond}}
		res := executor.Execute(context.Background(), j, executor.Options{})
		if res.Status != jobs.StatusTimedOut || res.Error != "timed out after 100ms" || res.ExitCode != nil {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("timeout while reading the body", func(t *testing.T) {
		// The timeout must outlast a local round trip so the headers arrive.
		j := &jobs.Job{Name: "hook", HTTP: &jobs.HTTPSpec{URL: srv.URL + "/?headers=1"}, Settings: &jobs.Settings{Timeout: 500 * time.Millisecond}}
		res := executor.Execute(context.Background(), j, executor.Options{})
		if res.Status != jobs.StatusTimedOut || res.Output != "partial" {
			t.Fatalf("got %+v", res)
		}
		checkExitCode(t, res.ExitCode, 200)
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		done := make(chan executor.Result, 1)
		go func() {
			done <- executor.Execute(ctx, &jobs.Job{Name: "hook", HTTP: &jobs.HTTPSpec{URL: srv.URL + "/?notify=1"}}, executor.Options{})
		}()
		<-arrived
		cancel(errors.New("run replaced"))
		res := <-done
		if res.Status != jobs.StatusCanceled || res.Error != "canceled: run replaced" || res.ExitCode != nil {
			t.Fatalf("got %+v", res)
		}
	})
}

func checkExitCode(t *testing.T, got *int, want int) {
	t.Helper()
	switch {
	case want < 0 && got != nil:
		t.Errorf("ExitCode = %d, want nil", *got)
	case want >= 0 && got == nil:
		t.Errorf("ExitCode = nil, want %d", want)
	case want >= 0 && *got != want:
		t.Errorf("ExitCode = %d, want %d", *got, want)
	}
}

// readPIDs reads n pids from a file the job wrote before Execute returned.
func readPIDs(t *testing.T, file string, n int) []int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the job did not write its pids: %v", err)
	}
	return parsePIDs(t, b, n)
}

// waitPIDs waits for a running job to write n pids to file (it renames the
// file into place, so it is complete once it exists). It gives up when the
// job ends (done) or after a generous bound.
func waitPIDs(t *testing.T, file string, n int, done <-chan executor.Result) []int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(file); err == nil {
			return parsePIDs(t, b, n)
		}
		select {
		case res := <-done:
			t.Fatalf("the job ended before writing its pids: %+v", res)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not write %s", file)
		}
	}
}

func parsePIDs(t *testing.T, b []byte, n int) []int {
	t.Helper()
	f := strings.Fields(string(b))
	if len(f) != n {
		t.Fatalf("pid file holds %q, want %d pids", b, n)
	}
	pids := make([]int, n)
	for i, s := range f {
		pid, err := strconv.Atoi(s)
		if err != nil || pid <= 0 {
			t.Fatalf("pid file holds %q", b)
		}
		pids[i] = pid
	}
	return pids
}

// gone reports whether pid has exited. A zombie has: where pid 1 does not
// reap, killed orphans stay zombies.
func gone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// waitGone fails the test unless pid exits within deathWait.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(deathWait)
	for !gone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d still runs %v after its job was stopped", pid, deathWait)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parentOf reads a process's parent pid from /proc.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("reading the parent of %d: %v", pid, err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("parsing /proc/%d/stat: %v", pid, err)
	}
	return ppid
}

// resetPeakRSS makes VmHWM start again from the current RSS, so earlier
// tests' allocations do not hide this one's.
func resetPeakRSS(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak RSS (%v); it may include earlier tests", err)
	}
}

// peakRSS is this process's peak resident set size in bytes (VmHWM).
func peakRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parsing VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/self/status")
	return 0
}
