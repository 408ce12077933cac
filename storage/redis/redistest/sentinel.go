package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	redigo "github.com/gomodule/redigo/redis"
)

// SentinelMaster is the master name the sentinel of a SentinelSet monitors.
const SentinelMaster = "tockmaster"

// Server is one redis-server process a test started.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// Kill SIGKILLs the server and waits for it to exit.
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-s.done
}

// SentinelSet is a master, its replica and one sentinel (quorum 1) watching
// them, each a redis-server process of the test's own on a free loopback
// port, killed when the test ends.
type SentinelSet struct {
	Master, Replica, Sentinel *Server
}

// URL is the set's redis+sentinel URL for database 0.
func (s *SentinelSet) URL() string {
	return "redis+sentinel://" + s.Sentinel.Addr + "/" + SentinelMaster + "/0"
}

// StartSentinel starts a SentinelSet whose sentinel declares the master
// down after down and fails over within a few seconds of that. It fails
// the test when redis-server cannot be started (skips it when
// TOCK_TEST_SKIP_REDIS=1).
func StartSentinel(t testing.TB, down time.Duration) *SentinelSet {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(EnvSkip) == "1" {
			t.Skipf("redis-server not found and %s=1: %v", EnvSkip, err)
		}
		t.Fatalf("redis-server not found (the test command installs it): %v", err)
	}
	dir := t.TempDir()
	set := &SentinelSet{}
	set.Master = startServer(t, bin, dir, "master")
	set.Replica = startServer(t, bin, dir, "replica", "--replicaof", host(set.Master.Addr), port(set.Master.Addr))
	waitLinked(t, set.Replica.Addr)

	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 1\n"+
		"sentinel down-after-milliseconds %[1]s %[4]d\n"+
		"sentinel failover-timeout %[1]s %[5]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		SentinelMaster, host(set.Master.Addr), port(set.Master.Addr), down.Milliseconds(), (4 * down).Milliseconds())
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	set.Sentinel = startServer(t, bin, dir, "sentinel", conf, "--sentinel")
	return set
}

// startServer starts redis-server with args on a free port and waits until
// it answers PING.
func startServer(t testing.TB, bin, dir, name string, args ...string) *Server {
	t.Helper()
	addr := freeAddr(t)
	var full []string
	if len(args) > 0 && filepath.IsAbs(args[0]) {
		// A config file comes first.
		full, args = append(full, args[0]), args[1:]
	}
	full = append(full, "--port", port(addr), "--bind", host(addr), "--save", "", "--appendonly", "no",
		"--dir", dir, "--dbfilename", name+".rdb", "--logfile", filepath.Join(dir, name+".log"))
	full = append(full, args...)
	cmd := exec.Command(bin, full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server %s: %v", name, err)
	}
	s := &Server{Addr: addr, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.Kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := redigo.Dial("tcp", addr, redigo.DialConnectTimeout(time.Second), redigo.DialReadTimeout(time.Second))
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
			if err == nil {
				return s
			}
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			t.Fatalf("redis-server %s exited: %s", name, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server %s on %s: not answering: %v", name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLinked waits until the replica at addr has synced with its master.
func waitLinked(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := redigo.Dial("tcp", addr)
		if err == nil {
			var role []any
			role, err = redigo.Values(c.Do("ROLE"))
			c.Close()
			if err == nil && len(role) >= 4 {
				if state, _ := redigo.String(role[3], nil); state == "connected" {
					return
				}
				err = errors.New("replication link " + fmt.Sprint(role[3]))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s never synced: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func host(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return strconv.Itoa(n)
}
