//go:build linux

package executor_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

// ownSupervisor is a Supervisor of the test's own, closed at its end.
func ownSupervisor(t *testing.T) *executor.Supervisor {
	t.Helper()
	path, err := executor.FindSupervisor()
	if err != nil {
		t.Fatal(err)
	}
	s := executor.NewSupervisor(path)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// A tock-exec killed with SIGKILL takes its running jobs' leaders with it
// (Pdeathsig), the attempt fails saying so, and the next start runs under
// a new tock-exec.
func TestSupervisorKilled(t *testing.T) {
	t.Parallel()
	sup := ownSupervisor(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	j := &jobs.Job{
		Name:     "t",
		Shell:    `echo $$ > "$PID_FILE.tmp" && mv "$PID_FILE.tmp" "$PID_FILE"; sleep 300`,
		Env:      map[string]string{"PID_FILE": pidFile},
		Settings: &jobs.Settings{Timeout: time.Minute},
	}
	done := make(chan executor.Result, 1)
	go func() { done <- executor.Execute(context.Background(), j, executor.Options{Supervisor: sup}) }()
	pids := waitPIDs(t, pidFile, 1, nil)
	first := sup.Pid()
	if first == 0 || parentOf(t, pids[0]) != first {
		t.Fatalf("the job %d is not tock-exec %d's child", pids[0], first)
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var res executor.Result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the attempt did not end after its supervisor was killed")
	}
	if res.Status != jobs.StatusFailed || !strings.Contains(res.Error, "process supervisor") {
		t.Fatalf("got %+v, want failed because the supervisor ended", res)
	}
	waitGone(t, pids[0])

	res = executor.Execute(context.Background(), &jobs.Job{Name: "t", Command: []string{"true"}}, executor.Options{Supervisor: sup})
	if res.Status != jobs.StatusSucceeded {
		t.Fatalf("after a restart: got %+v", res)
	}
	if second := sup.Pid(); second == 0 || second == first {
		t.Fatalf("tock-exec pid %d after the restart, %d before", second, first)
	}
}

// Closing the supervisor kills the groups of jobs still running (tock
// stopping without waiting for them), grandchildren included.
func TestSupervisorCloseKillsGroups(t *testing.T) {
	t.Parallel()
	sup := ownSupervisor(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	j := &jobs.Job{
		Name:     "t",
		Shell:    `sleep 300 & echo $$ $! > "$PID_FILE.tmp" && mv "$PID_FILE.tmp" "$PID_FILE"; wait`,
		Env:      map[string]string{"PID_FILE": pidFile},
		Settings: &jobs.Settings{Timeout: time.Minute},
	}
	done := make(chan executor.Result, 1)
	go func() { done <- executor.Execute(context.Background(), j, executor.Options{Supervisor: sup}) }()
	pids := waitPIDs(t, pidFile, 2, nil)
	if err := sup.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		waitGone(t, pid)
	}
	if res := <-done; res.Status != jobs.StatusFailed {
		t.Fatalf("got %+v, want failed", res)
	}
	res := executor.Execute(context.Background(), &jobs.Job{Name: "t", Command: []string{"true"}}, executor.Options{Supervisor: sup})
	if res.Status != jobs.StatusFailed || !strings.Contains(res.Error, "closed") {
		t.Fatalf("start after Close: got %+v", res)
	}
}

// tock-exec started by hand says what it is for and exits 2.
func TestSupervisorByHand(t *testing.T) {
	t.Parallel()
	path, err := executor.FindSupervisor()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{nil, {"sh", "-c", "true"}} {
		out, err := exec.Command(path, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "tock starts") {
			t.Errorf("tock-exec %q: %v, %q; want exit 2 and an explanation", args, err, out)
		}
	}
}

// tock-exec imports nothing beyond the standard library and its own
// package: it must stay small to start.
func TestSupervisorImports(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/tock-sched/tock/cmd/tock-exec").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/tock-sched/tock/cmd/tock-exec" && p != "github.com/tock-sched/tock/internal/tockexec" {
			t.Errorf("tock-exec imports %s", p)
		}
	}
}
