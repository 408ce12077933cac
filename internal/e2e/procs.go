package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// spawn starts bin with args and env, its stdout and stderr going to log.
// The process dies with the harness (Pdeathsig), so a harness that dies
// past its cleanup (a test timeout's panic, a crashed benchmark) leaves no
// tock behind; its tock-exec follows its replica (socket end of file,
// Pdeathsig) and takes the jobs with it.
func spawn(bin string, args, env []string, log *os.File) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// Proc is one tock process started by StartProc, outside a Cluster: e.g. a
// replica on the embedded store. It is started once; Stop ends it.
type Proc struct {
	// LogPath is the file its stdout and stderr are appended to.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process was reaped
}

// StartProc runs bin with args, appending its output to logPath. Its
// environment is ReplicaEnv: only the flags configure tock.
func StartProc(bin, logPath string, args ...string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child holds its own descriptor
	cmd, err := spawn(bin, args, ReplicaEnv(), f)
	if err != nil {
		return nil, err
	}
	p := &Proc{LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	// Stop waits for this goroutine through done.
	go func() {
		defer close(p.done)
		_ = cmd.Wait()
	}()
	return p, nil
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process; after it ended the error is
// os.ErrProcessDone.
func (p *Proc) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("sending %s to pid %d: %w", sig, p.Pid(), err)
	}
	return nil
}

// Stop sends SIGTERM and waits up to grace for the exit, then SIGKILLs the
// process and waits until it is reaped.
func (p *Proc) Stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Done is closed when the process has ended and was reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// FreeAddr returns a loopback host:port that was free a moment ago, e.g.
// for a replica's --listen.
func FreeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}
