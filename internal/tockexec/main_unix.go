//go:build unix

package tockexec

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Main is tock-exec's main; it returns the code to exit with. It serves
// tock's requests on SocketFD until tock closes the socket or dies, then
// SIGKILLs every process group it started and tock did not release.
func Main(args []string) int {
	if len(args) > 0 {
		fmt.Fprintln(os.Stderr, "tock-exec: takes no arguments; tock starts it to run its command and shell jobs")
		return 2
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(SocketFD, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		fmt.Fprintln(os.Stderr, "tock-exec: descriptor 3 is not tock's socket; tock starts tock-exec itself to run its command and shell jobs, nobody else does")
		return 2
	}
	syscall.CloseOnExec(SocketFD)
	f := os.NewFile(SocketFD, "tock-exec-socket")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tock-exec: socket:", err)
		return 2
	}
	conn, ok := c.(*net.UnixConn)
	if !ok {
		fmt.Fprintln(os.Stderr, "tock-exec: descriptor 3 is not a unix socket")
		return 2
	}
	devnull, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tock-exec: opening /dev/null:", err)
		return 2
	}
	s := &server{
		conn:    conn,
		devnull: uintptr(devnull),
		parent:  expectedParent(),
		leaders: make(map[int]uint64),
		groups:  make(map[uint64]int),
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM)
	// tock may have died before Notify: then its SIGTERM is gone, but the
	// socket's end of file is not.
	go s.signals(sigs)
	s.serve()
	return 0
}

// server is tock-exec's state.
type server struct {
	conn    *net.UnixConn
	devnull uintptr
	parent  int

	mu      sync.Mutex
	leaders map[int]uint64 // live job leaders: pid -> request id
	groups  map[uint64]int // process groups not yet released: request id -> pgid
	done    bool           // tock is gone: start nothing more
}

// serve reads tock's requests until the socket ends, then kills what is
// left. It runs on a locked OS thread: the jobs' Pdeathsig fires when the
// thread that forked them exits, and this one lives as long as tock-exec.
func (s *server) serve() {
	runtime.LockOSThread()
	buf := make([]byte, MaxMessage)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			// End of file: tock closed the socket or died.
			s.killAll()
			return
		}
		fds := receivedFDs(oob[:oobn])
		var req Request
		if err := json.Unmarshal(buf[:n], &req); err != nil {
			closeAll(fds)
			fmt.Fprintln(os.Stderr, "tock-exec: bad request:", err)
			continue
		}
		switch req.Op {
		case OpStart:
			s.start(req, fds)
		case OpRelease:
			closeAll(fds)
			s.mu.Lock()
			delete(s.groups, req.ID)
			s.mu.Unlock()
		default:
			closeAll(fds)
			s.reply(Reply{ID: req.ID, Error: "tock-exec: unknown op " + strconv.Quote(req.Op)})
		}
	}
}

// start starts one job as the leader of a new process group, its stdout
// and stderr the descriptor tock sent, stdin /dev/null.
func (s *server) start(req Request, fds []int) {
	defer closeAll(fds)
	if len(fds) != 1 {
		s.reply(Reply{ID: req.ID, Error: fmt.Sprintf("tock-exec: a start needs one output descriptor, got %d", len(fds))})
		return
	}
	if len(req.Argv) == 0 {
		s.reply(Reply{ID: req.ID, Error: "starting: no command given"})
		return
	}
	path, err := lookPath(req.Argv[0], req.Env)
	if err != nil {
		s.reply(Reply{ID: req.ID, Error: StartErrorText(req.Argv[0], err)})
		return
	}
	out := uintptr(fds[0])
	attr := &syscall.ProcAttr{
		Env:   req.Env,
		Files: []uintptr{s.devnull, out, out},
		Sys:   jobSysProcAttr(),
	}
	// Held from the fork to the reply: the reaper cannot report the job's
	// end before tock has its pid.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		s.reply(Reply{ID: req.ID, Error: "tock-exec: tock is gone"})
		return
	}
	pid, err := syscall.ForkExec(path, req.Argv, attr)
	if err != nil {
		s.reply(Reply{ID: req.ID, Error: StartErrorText(req.Argv[0], err)})
		return
	}
	s.leaders[pid] = req.ID
	s.groups[req.ID] = pid
	s.reply(Reply{ID: req.ID, Pid: pid})
}

// signals reaps the jobs on SIGCHLD and reports their ends; on SIGTERM
// from a changed parent (Pdeathsig: tock died) it kills every group.
func (s *server) signals(sigs <-chan os.Signal) {
	for sig := range sigs {
		if sig == syscall.SIGTERM {
			if os.Getppid() != s.parent {
				s.killAll()
				os.Exit(128 + int(syscall.SIGKILL))
			}
			// A SIGTERM to tock-exec's group while tock lives: ignored;
			// tock closes the socket to end it.
			continue
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || pid <= 0 {
				break
			}
			s.mu.Lock()
			id, ok := s.leaders[pid]
			delete(s.leaders, pid)
			s.mu.Unlock()
			if ok {
				st := StatusOf(ws)
				s.reply(Reply{ID: id, Exit: &st})
			}
		}
	}
}

// killAll SIGKILLs every group tock has not released and starts nothing
// more.
func (s *server) killAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	for _, pgid := range s.groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// reply sends one message; a failed send means tock is gone, which the
// read loop sees too.
func (s *server) reply(r Reply) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	_, _ = s.conn.Write(b)
}

// receivedFDs returns the descriptors of an SCM_RIGHTS message, marked
// close-on-exec so that no other job inherits them.
func receivedFDs(oob []byte) []int {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		rights, err := syscall.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range rights {
			syscall.CloseOnExec(fd)
		}
		fds = append(fds, rights...)
	}
	return fds
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
}

// expectedParent is the pid tock announced, or the current parent.
func expectedParent() int {
	if pid, err := strconv.Atoi(os.Getenv(EnvParent)); err == nil && pid > 0 {
		return pid
	}
	return os.Getppid()
}

// errNotFound is exec.ErrNotFound's text, which tock's history has always
// shown for a command missing from PATH.
var errNotFound = fmt.Errorf("executable file not found in $PATH")

// lookPath finds file as exec.LookPath would, but in the job's PATH (env),
// falling back to tock-exec's own.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, executable(file)
	}
	path, ok := "", false
	for i := len(env) - 1; i >= 0; i-- {
		if v, found := strings.CutPrefix(env[i], "PATH="); found {
			path, ok = v, true
			break
		}
	}
	if !ok {
		path = os.Getenv("PATH")
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + file
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", errNotFound
}

// executable reports why path cannot be executed, or nil.
func executable(path string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return syscall.EISDIR
	}
	if st.Mode&0o111 == 0 {
		return syscall.EACCES
	}
	return nil
}
