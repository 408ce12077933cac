//go:build unix

package executor

import (
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// runShim is the shim's main: it runs argv as its child in its own process
// group, waits for it and returns the exit code to exit with.
//
// It forwards no signal. A SIGTERM reaches it either because Execute stopped
// the whole group (the job got the same signal, so the shim keeps waiting for
// it) or through Pdeathsig because tock died; then the parent has changed and
// the shim SIGKILLs the group, itself included, so nothing outlives tock.
func runShim(argv []string) int {
	report := shimReportFile()
	parent := shimExpectedParent()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)

	if len(argv) == 0 {
		writeShimStatus(report, shimStatus{kind: shimError, reason: "starting: no command given"})
		return 127
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = withoutShimEnv(os.Environ())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr

	// Checked after Notify: a parent that died before it left a SIGTERM that
	// may have been ignored (a disposition inherited from tock) or may not.
	if os.Getppid() != parent {
		return abandonGroup(nil)
	}
	if os.Getenv(shimWaitEnv) == "1" && !awaitGo() {
		// Refused (or tock died): the job is never started.
		return 125
	}
	if os.Getppid() != parent {
		return abandonGroup(nil)
	}
	if err := cmd.Start(); err != nil {
		writeShimStatus(report, shimStatus{kind: shimError, reason: startErrorText(argv[0], err)})
		return 127
	}

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var poll <-chan time.Time
	if parentPollInterval > 0 {
		t := time.NewTicker(parentPollInterval)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case err := <-exited:
			if cmd.ProcessState == nil {
				writeShimStatus(report, shimStatus{kind: shimError, reason: "waiting for " + argv[0] + ": " + err.Error()})
				return 127
			}
			st := exitStatusOf(cmd.ProcessState)
			writeShimStatus(report, st)
			if st.kind == shimSignal {
				return 128 + st.code
			}
			return st.code
		case <-sigs:
		case <-poll:
		}
		if os.Getppid() != parent {
			return abandonGroup(cmd.Process)
		}
	}
}

// awaitGo blocks until tock writes the go-ahead on shimGoFD (true) or
// closes it, refusing the start or dying (false).
func awaitGo() bool {
	f := os.NewFile(shimGoFD, "tock-shim-go")
	if f == nil {
		return false
	}
	defer f.Close()
	var b [1]byte
	n, _ := f.Read(b[:])
	return n == 1
}

// abandonGroup kills the shim's process group, the shim included, because
// tock is gone. When the shim does not lead its own group (it was started
// by hand) it kills only its child, never its starter's group.
func abandonGroup(child *os.Process) int {
	if syscall.Getpgrp() == os.Getpid() {
		_ = syscall.Kill(0, syscall.SIGKILL)
	}
	if child != nil {
		_ = child.Kill()
	}
	return 128 + int(syscall.SIGKILL)
}

// shimExpectedParent is the pid Execute announced, or the current parent
// when the shim was started some other way.
func shimExpectedParent() int {
	if pid, err := strconv.Atoi(os.Getenv(shimParentEnv)); err == nil && pid > 0 {
		return pid
	}
	return os.Getppid()
}

// shimReportFile returns the status pipe Execute passed, or nil. The
// descriptor is marked close-on-exec so the job never inherits it and the
// pipe reaches EOF when the shim exits.
func shimReportFile() *os.File {
	if os.Getenv(shimParentEnv) == "" {
		return nil
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(shimStatusFD, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return nil
	}
	syscall.CloseOnExec(shimStatusFD)
	return os.NewFile(shimStatusFD, "tock-shim-status")
}

func writeShimStatus(f *os.File, s shimStatus) {
	if f == nil {
		return
	}
	// Best effort: without the report Execute falls back to the shim's own
	// exit status.
	_, _ = f.WriteString(s.String())
	_ = f.Close()
}

// exitStatusOf turns a wait status into the shim's report.
func exitStatusOf(ps *os.ProcessState) shimStatus {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return shimStatus{kind: shimSignal, code: int(ws.Signal())}
	}
	return shimStatus{kind: shimExit, code: ps.ExitCode()}
}
