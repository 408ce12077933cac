//go:build unix

package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"github.com/tock-sched/tock/internal/tockexec"
)

// Supervisor is a tock-exec process that starts this process's command
// and shell jobs (package internal/tockexec). It is started on the first
// Start and again after it died; Close ends it. Its methods are safe for
// concurrent use.
type Supervisor struct {
	path string

	mu     sync.Mutex
	proc   *supervisorProc // nil before the first Start and after a death
	closed bool
}

// NewSupervisor returns a Supervisor that runs the tock-exec at path.
func NewSupervisor(path string) *Supervisor { return &Supervisor{path: path} }

// supervisorProc is one running tock-exec.
type supervisorProc struct {
	conn *net.UnixConn
	pid  int
	// exited is closed when the process has been reaped.
	exited chan struct{}

	mu       sync.Mutex
	nextID   uint64
	children map[uint64]*Child
	err      error // why it ended; set once
}

// Child is a job tock-exec started.
type Child struct {
	// Pid is the job's pid, and its process group's id.
	Pid int

	id      uint64
	proc    *supervisorProc
	started chan string // the start's answer: "" or why it failed
	// answered is set once started has had its answer (under proc.mu).
	answered bool
	done     chan struct{}
	status   tockexec.Status
	lost     error // the supervisor ended before the job's end was known
}

// Done is closed when the job's main process has been reaped (or its end
// cannot be known because tock-exec died).
func (c *Child) Done() <-chan struct{} { return c.done }

// Status is how the job ended; valid once Done is closed. err is not nil
// when tock-exec died before it could tell.
func (c *Child) Status() (tockexec.Status, error) { return c.status, c.lost }

// Release tells tock-exec that the job's process group is no concern of
// it any more (it was stopped or is empty): it will not kill it should
// tock die.
func (c *Child) Release() {
	c.proc.send(tockexec.Request{Op: tockexec.OpRelease, ID: c.id}, nil)
	c.proc.mu.Lock()
	delete(c.proc.children, c.id)
	c.proc.mu.Unlock()
}

// Start starts argv with env (as given: the caller resolves duplicates)
// in a new process group, its stdout and stderr out. It returns once the
// job runs or failed to start.
func (s *Supervisor) Start(argv, env []string, out *os.File) (*Child, error) {
	p, err := s.running()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		return nil, err
	}
	p.nextID++
	c := &Child{id: p.nextID, proc: p, started: make(chan string, 1), done: make(chan struct{})}
	p.children[c.id] = c
	p.mu.Unlock()

	if err := p.send(tockexec.Request{Op: tockexec.OpStart, ID: c.id, Argv: argv, Env: env}, out); err != nil {
		p.forget(c.id)
		return nil, err
	}
	if why := <-c.started; why != "" {
		p.forget(c.id)
		return nil, errors.New(why)
	}
	return c, nil
}

// Pid is the running tock-exec's pid, 0 when none runs.
func (s *Supervisor) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && s.proc.alive() {
		return s.proc.pid
	}
	return 0
}

// Close ends tock-exec, which SIGKILLs every group not yet released, and
// waits for it to exit.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	p := s.proc
	s.closed = true
	s.mu.Unlock()
	if p != nil {
		_ = p.conn.Close()
		<-p.exited
	}
	return nil
}

// running returns the live tock-exec, starting one if needed.
func (s *Supervisor) running() (*supervisorProc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("jobs: the process supervisor was closed")
	}
	if s.proc != nil && s.proc.alive() {
		return s.proc, nil
	}
	p, err := startSupervisor(s.path)
	if err != nil {
		return nil, err
	}
	s.proc = p
	return p, nil
}

func (p *supervisorProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// startSupervisor starts tock-exec from a goroutine locked to its OS
// thread for tock-exec's whole life: Pdeathsig fires when the thread that
// forked it exits, which must mean that tock died. The goroutine then
// reads tock-exec's replies and reaps it.
func startSupervisor(path string) (*supervisorProc, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("jobs: socket pair for %s: %w", path, err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "tock-exec"), os.NewFile(uintptr(fds[1]), "tock-exec-peer")
	defer theirs.Close()
	c, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, fmt.Errorf("jobs: socket for %s: %w", path, err)
	}
	conn := c.(*net.UnixConn)
	_ = conn.SetWriteBuffer(tockexec.MaxMessage)

	p := &supervisorProc{conn: conn, exited: make(chan struct{}), children: make(map[uint64]*Child)}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends with the goroutine, after
		// tock-exec has been reaped.
		defer close(p.exited)
		cmd := exec.Command(path)
		cmd.Env = append(os.Environ(), tockexec.EnvParent+"="+strconv.Itoa(os.Getpid()))
		cmd.ExtraFiles = []*os.File{theirs}
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = supervisorSysProcAttr()
		if err := cmd.Start(); err != nil {
			_ = conn.Close()
			started <- fmt.Errorf("jobs: starting the process supervisor: %w", err)
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.readReplies()
		_ = conn.Close()
		werr := cmd.Wait()
		p.fail(fmt.Errorf("jobs: the process supervisor %s (pid %d) ended: %v", path, p.pid, exitText(cmd.ProcessState, werr)))
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// readReplies hands tock-exec's replies to the waiting children until the
// socket ends.
func (p *supervisorProc) readReplies() {
	buf := make([]byte, 64<<10)
	for {
		n, err := p.conn.Read(buf)
		if err != nil || n == 0 {
			return
		}
		var r tockexec.Reply
		if json.Unmarshal(buf[:n], &r) != nil {
			continue
		}
		p.mu.Lock()
		c := p.children[r.ID]
		if c != nil && r.Exit == nil {
			c.answered = true
		}
		p.mu.Unlock()
		switch {
		case c == nil:
		case r.Exit != nil:
			c.status = *r.Exit
			close(c.done)
		case r.Error != "":
			c.started <- r.Error
		default:
			c.Pid = r.Pid
			c.started <- ""
		}
	}
}

// fail records why tock-exec ended and settles every child: a start not
// answered fails, a job whose end is unknown is killed (tock-exec killed
// its group already, unless it was itself SIGKILLed).
func (p *supervisorProc) fail(err error) {
	p.mu.Lock()
	p.err = err
	children := p.children
	p.children = map[uint64]*Child{}
	p.mu.Unlock()
	for _, c := range children {
		if !c.answered {
			c.started <- err.Error() // Start reads it
			continue
		}
		select {
		case <-c.done:
		default:
			if c.Pid > 0 {
				_ = syscall.Kill(-c.Pid, syscall.SIGKILL)
			}
			c.lost = err
			close(c.done)
		}
	}
}

// send writes one request, with out attached as SCM_RIGHTS when not nil.
func (p *supervisorProc) send(req tockexec.Request, out *os.File) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if len(b) > tockexec.MaxMessage {
		return fmt.Errorf("jobs: the job's argv and environment (%d bytes encoded) exceed the %d bytes the process supervisor accepts", len(b), tockexec.MaxMessage)
	}
	var oob []byte
	if out != nil {
		oob = syscall.UnixRights(int(out.Fd()))
	}
	if _, _, err := p.conn.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("jobs: sending a start to the process supervisor: %w", err)
	}
	return nil
}

func (p *supervisorProc) forget(id uint64) {
	p.mu.Lock()
	delete(p.children, id)
	p.mu.Unlock()
}

func exitText(ps *os.ProcessState, err error) string {
	if ps != nil {
		return ps.String()
	}
	return err.Error()
}
