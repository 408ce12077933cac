package executor

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ShimEnv is the environment variable that turns the running binary into the
// process-group shim: RunShimIfRequested acts only when it is "1". Execute
// sets it for the shim and the shim removes it from the job's environment.
const ShimEnv = "TOCK_EXEC_SHIM"

// shimParentEnv carries the pid of the process that started the shim, so the
// shim notices a parent that died before it could watch for that. Execute
// sets it; its presence also tells the shim that shimStatusFD is its report
// pipe.
const shimParentEnv = "TOCK_EXEC_SHIM_PARENT"

// shimWaitEnv, set to 1, makes the shim wait for one byte on shimGoFD
// before it starts the job, and exit without starting it on end of file:
// the shim is started ahead of the attempt's start (Options.StartGate).
const shimWaitEnv = "TOCK_EXEC_SHIM_WAIT"

// shimStatusFD is the descriptor on which the shim reports how the job ended
// (Execute passes a pipe there as the first of ExtraFiles). A job that exits
// 137 and one killed by SIGKILL make the shim exit alike; this report tells
// them apart and carries the reason a job could not start.
const shimStatusFD = 3

// shimGoFD is the shim's descriptor of the pipe a waiting shim (shimWaitEnv)
// reads its go-ahead from: the second of ExtraFiles.
const shimGoFD = 4

// ShimCommand returns the argv prefix that starts the process-group shim: the
// running executable, which must call RunShimIfRequested first thing in main
// (and in TestMain of any package whose tests execute jobs).
func ShimCommand() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("jobs: locating the exec shim: %w", err)
	}
	return []string{exe}, nil
}

// RunShimIfRequested makes the process act as the process-group shim when
// ShimEnv is "1" and returns at once otherwise. As the shim it runs os.Args[1:]
// as its child, waits for it and exits with its exit code (128+N when signal N
// killed it); it never returns. Call it at the very start of main and TestMain.
func RunShimIfRequested() {
	if os.Getenv(ShimEnv) != "1" {
		return
	}
	os.Exit(runShim(os.Args[1:]))
}

// shimStatus is how the job ended, as the shim reports it.
type shimStatus struct {
	kind   string // shimExit, shimSignal or shimError
	code   int    // exit code or signal number
	reason string // why the job could not run
}

const (
	shimExit   = "exit"   // the job exited with code
	shimSignal = "signal" // signal code killed the job
	shimError  = "error"  // the job could not start (or be waited for)
)

func (s shimStatus) String() string {
	if s.kind == shimError {
		// One line: a newline in the reason would end the report early.
		return shimError + " " + strings.ReplaceAll(s.reason, "\n", " ") + "\n"
	}
	return s.kind + " " + strconv.Itoa(s.code) + "\n"
}

// parseShimStatus reads the shim's report; ok is false when there is none
// (the shim was killed, or a custom shim does not report).
func parseShimStatus(p []byte) (s shimStatus, ok bool) {
	line, _, found := bytes.Cut(p, []byte("\n"))
	if !found {
		return shimStatus{}, false
	}
	kind, rest, _ := strings.Cut(string(line), " ")
	switch kind {
	case shimError:
		return shimStatus{kind: kind, reason: rest}, true
	case shimExit, shimSignal:
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 {
			return shimStatus{}, false
		}
		return shimStatus{kind: kind, code: n}, true
	}
	return shimStatus{}, false
}

// withoutShimEnv returns env without the shim's own variables, so the job
// neither sees them nor turns a tock it starts into a shim.
func withoutShimEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, ShimEnv+"=") || strings.HasPrefix(kv, shimParentEnv+"=") || strings.HasPrefix(kv, shimWaitEnv+"=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
