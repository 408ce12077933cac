//go:build unix

package executor

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestShimStatusRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []shimStatus{
		{kind: shimExit, code: 0},
		{kind: shimExit, code: 137},
		{kind: shimSignal, code: 9},
		{kind: shimError, reason: "starting /no/such: no such file or directory"},
	} {
		got, ok := parseShimStatus([]byte(s.String()))
		if !ok || got != s {
			t.Errorf("parse(%q) = %+v, %v; want %+v", s.String(), got, ok, s)
		}
	}
	multiline := shimStatus{kind: shimError, reason: "a\nb"}
	if got, ok := parseShimStatus([]byte(multiline.String())); !ok || got.reason != "a b" {
		t.Errorf("a reason with a newline came back as %+v, %v", got, ok)
	}
	for _, bad := range []string{"", "exit 3", "exit x\n", "exit -1\n", "signal\n", "quit 3\n"} {
		if got, ok := parseShimStatus([]byte(bad)); ok {
			t.Errorf("parse(%q) = %+v, want no report", bad, got)
		}
	}
}

// shimCmd runs this test binary as the shim (TestMain calls
// RunShimIfRequested) in a process group of its own.
func shimCmd(env []string, argv ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], argv...)
	cmd.Env = append(os.Environ(), ShimEnv+"=1")
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func TestShimPassesExitStatusThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		argv   []string
		code   int
		report string
	}{
		{"exit 0", []string{"true"}, 0, "exit 0\n"},
		{"exit 5", []string{"sh", "-c", "exit 5"}, 5, "exit 5\n"},
		{"exit 143", []string{"sh", "-c", "exit 143"}, 143, "exit 143\n"},
		{"signal", []string{"sh", "-c", "kill -TERM $$"}, 128 + 15, "signal 15\n"},
		{"missing", []string{"/no/such"}, 127, "error starting /no/such: no such file or directory\n"},
		{"nothing to run", nil, 127, "error starting: no command given\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			cmd := shimCmd([]string{shimParentEnv + "=" + strconv.Itoa(os.Getpid())}, tt.argv...)
			cmd.ExtraFiles = []*os.File{w}
			err = cmd.Start()
			w.Close()
			if err != nil {
				t.Fatal(err)
			}
			report, _ := io.ReadAll(r)
			err = cmd.Wait()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if got := cmd.ProcessState.ExitCode(); got != tt.code {
				t.Errorf("shim exit code = %d, want %d", got, tt.code)
			}
			if string(report) != tt.report {
				t.Errorf("report = %q, want %q", report, tt.report)
			}
		})
	}
}

func TestShimWithoutReportPipe(t *testing.T) {
	t.Parallel()
	// Started by hand: no parent variable, so fd 3 is not touched, and the
	// job's environment loses the shim's variable.
	out, err := shimCmd(nil, "sh", "-c", `echo "${TOCK_EXEC_SHIM-unset}"; exit 4`).Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Fatalf("err = %v, want exit status 4", err)
	}
	if string(out) != "unset\n" {
		t.Fatalf("job saw TOCK_EXEC_SHIM=%q", out)
	}
}

func TestShimWaitsThroughGroupSIGTERM(t *testing.T) {
	t.Parallel()
	// A timeout sends SIGTERM to the whole group. The shim's parent is
	// unchanged, so it must keep waiting and pass on how the job ended.
	cmd := shimCmd([]string{shimParentEnv + "=" + strconv.Itoa(os.Getpid())},
		"sh", "-c", `trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done`)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("read %q, %v; want ready", line, err)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if got := cmd.ProcessState.ExitCode(); got != 7 {
		t.Fatalf("shim ended with %v (%v), want exit status 7 from the job", cmd.ProcessState, err)
	}
}

func TestShimAbandonsGroupWhenParentIsGone(t *testing.T) {
	t.Parallel()
	// The shim was told its parent is pid 1: as far as it knows tock died
	// before it started, so it must kill its group instead of running the job.
	cmd := shimCmd([]string{shimParentEnv + "=1"}, "sh", "-c", "echo ran")
	out, err := cmd.Output()
	if len(out) != 0 {
		t.Fatalf("the job ran: %q", out)
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("shim ended with %v (%v), want killed by SIGKILL", cmd.ProcessState, err)
	}
}

func TestWithoutShimEnv(t *testing.T) {
	t.Parallel()
	got := withoutShimEnv([]string{"A=1", ShimEnv + "=1", shimParentEnv + "=42", "TOCK_EXEC_SHIMMY=x", "B=2"})
	if want := "A=1 TOCK_EXEC_SHIMMY=x B=2"; strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
