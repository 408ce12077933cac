package tockexec

import (
	"errors"
	"io/fs"
	"os/exec"
	"strconv"
	"syscall"
)

// SocketFD is tock-exec's descriptor of its socket to tock: the first of
// exec.Cmd.ExtraFiles.
const SocketFD = 3

// EnvParent carries the pid of the tock that started tock-exec, so that it
// notices a parent that died before it could watch for that.
const EnvParent = "TOCK_EXEC_PARENT"

// MaxMessage is the largest request tock-exec reads: a job's argv and
// environment, encoded, must fit.
const MaxMessage = 1 << 20

// Request ops.
const (
	OpStart   = "start"   // start Argv with Env; its output descriptor is attached
	OpRelease = "release" // tock is done with ID's process group
)

// Request is one message from tock.
type Request struct {
	Op   string   `json:"op"`
	ID   uint64   `json:"id"`
	Argv []string `json:"argv,omitempty"`
	Env  []string `json:"env,omitempty"`
}

// Reply is one message to tock: a start's answer (Pid or Error) or the
// end of a started job (Exit).
type Reply struct {
	ID    uint64  `json:"id"`
	Pid   int     `json:"pid,omitempty"`
	Error string  `json:"error,omitempty"`
	Exit  *Status `json:"exit,omitempty"`
}

// Kind is how a job ended.
type Kind string

const (
	Exit   Kind = "exit"   // the job exited with Code
	Signal Kind = "signal" // signal Code killed the job
)

// Status is how a job ended.
type Status struct {
	Kind Kind `json:"kind"`
	Code int  `json:"code"`
}

// ExitCode is the code a shell would report: Code for an exit, 128+N for
// signal N.
func (s Status) ExitCode() int {
	if s.Kind == Signal {
		return 128 + s.Code
	}
	return s.Code
}

// String is "exit status N" or "signal: NAME".
func (s Status) String() string {
	if s.Kind == Signal {
		return "signal: " + syscall.Signal(s.Code).String()
	}
	return "exit status " + strconv.Itoa(s.Code)
}

// StatusOf turns a wait status into a Status.
func StatusOf(ws syscall.WaitStatus) Status {
	if ws.Signaled() {
		return Status{Kind: Signal, Code: int(ws.Signal())}
	}
	return Status{Kind: Exit, Code: ws.ExitStatus()}
}

// StartErrorText says why argv0 could not start, without the "fork/exec"
// noise of the error's wrapping.
func StartErrorText(argv0 string, err error) string {
	var ee *exec.Error
	var pe *fs.PathError
	switch {
	case errors.As(err, &ee):
		err = ee.Err
	case errors.As(err, &pe):
		err = pe.Err
	}
	return "starting " + argv0 + ": " + err.Error()
}
