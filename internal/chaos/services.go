package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tock-sched/tock/internal/e2e"
)

const (
	// serviceReady bounds how long a private service may take to answer.
	serviceReady = time.Minute
	// serviceStop bounds how long a stopped service may take to exit
	// before it is SIGKILLed.
	serviceStop = 30 * time.Second
)

// proc is one run of a service process, reaped by a goroutine it owns.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc starts argv with output appended to logPath. The process dies
// with the chaos tool (Pdeathsig), so a crash of the tool leaves no server
// behind.
func startProc(name, logPath string, argv ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("starting %s: opening its log: %w", name, err)
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		// How it exited is not needed: a stop is always deliberate.
		_ = cmd.Wait()
	}()
	return p, nil
}

// alive reports whether the process has not exited.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends sig and waits for the exit, SIGKILLing after serviceStop.
func (p *proc) stop(sig syscall.Signal) error {
	if !p.alive() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending %s to %s: %w", sig, p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(serviceStop):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %s of %s; killed", p.name, serviceStop, sig)
	}
}

// waitFor polls ready every 100ms until it succeeds or d passes.
func waitFor(ctx context.Context, d time.Duration, what string, ready func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s: %w", what, d, err)
		case <-t.C:
		}
	}
}

// Redis is a private redis-server without persistence: a restart empties it.
type Redis struct {
	Port int
	bin  string
	log  string
	mu   sync.Mutex
	p    *proc
}

// StartRedis starts redis-server on a free port, logging into dir.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("the chaos run needs redis-server (apt-get install redis-server): %w", err)
	}
	port, err := e2e.FreePort()
	if err != nil {
		return nil, err
	}
	r := &Redis{Port: port, bin: bin, log: filepath.Join(dir, "redis.log")}
	return r, r.Start(ctx)
}

// URL is the tock --redis URL of the server.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Start starts the server if it is down and waits until it answers PING.
func (r *Redis) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p != nil && r.p.alive() {
		return nil
	}
	p, err := startProc("redis-server", r.log, r.bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	if err != nil {
		return err
	}
	r.p = p
	return waitFor(ctx, serviceReady, "redis-server", func() error {
		if !p.alive() {
			return fmt.Errorf("redis-server exited; see %s", r.log)
		}
		reply, err := r.Do("PING")
		if err == nil && reply != "PONG" {
			err = fmt.Errorf("PING answered %q", reply)
		}
		return err
	})
}

// Stop stops the server with sig (SIGTERM or SIGKILL).
func (r *Redis) Stop(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return nil
	}
	return r.p.stop(sig)
}

// Do sends one command and returns its one-line reply (simple strings,
// errors and integers; enough for PING and FLUSHALL).
func (r *Redis) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.Port), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("redis: %s", line[1:])
	case len(line) > 0:
		return line[1:], nil
	}
	return "", errors.New("redis: empty reply")
}

// MariaDB is a private MariaDB server with its own data directory, so it
// can be killed and restarted; the data survives restarts.
type MariaDB struct {
	Port    int
	bin     string
	client  string
	dir     string
	datadir string
	log     string
	mu      sync.Mutex
	p       *proc
}

func lookPath(names ...string) (string, error) {
	var last error
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err == nil {
			return p, nil
		}
		last = err
	}
	return "", last
}

// StartMariaDB initialises a data directory under dir with
// mariadb-install-db and starts mariadbd on a free port, root without a
// password over TCP.
func StartMariaDB(ctx context.Context, dir string) (*MariaDB, error) {
	bin, err := lookPath("mariadbd", "/usr/sbin/mariadbd", "/usr/sbin/mysqld")
	if err != nil {
		return nil, fmt.Errorf("the chaos run needs mariadbd (apt-get install mariadb-server): %w", err)
	}
	install, err := lookPath("mariadb-install-db", "mysql_install_db")
	if err != nil {
		return nil, fmt.Errorf("the chaos run needs mariadb-install-db: %w", err)
	}
	client, err := lookPath("mariadb", "mysql")
	if err != nil {
		return nil, fmt.Errorf("the chaos run needs the mariadb client: %w", err)
	}
	port, err := e2e.FreePort()
	if err != nil {
		return nil, err
	}
	m := &MariaDB{Port: port, bin: bin, client: client, dir: dir, datadir: filepath.Join(dir, "mariadb-data"), log: filepath.Join(dir, "mariadb.log")}
	args := []string{install, "--no-defaults", "--datadir=" + m.datadir, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initialising a MariaDB data directory: %w\n%s", err, out)
	}
	return m, m.Start(ctx)
}

// Start starts the server if it is down and waits until root can log in.
func (m *MariaDB) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil && m.p.alive() {
		return nil
	}
	args := []string{m.bin, "--no-defaults", "--datadir=" + m.datadir, "--port=" + strconv.Itoa(m.Port),
		"--bind-address=127.0.0.1", "--socket=" + filepath.Join(m.dir, "mariadb.sock"),
		"--pid-file=" + filepath.Join(m.dir, "mariadb.pid"), "--skip-name-resolve",
		"--innodb-buffer-pool-size=128M", "--max-connections=500", "--log-error=" + m.log}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	p, err := startProc("mariadbd", m.log, args...)
	if err != nil {
		return err
	}
	m.p = p
	return waitFor(ctx, serviceReady, "mariadbd", func() error {
		if !p.alive() {
			return fmt.Errorf("mariadbd exited; see %s", m.log)
		}
		return m.exec(ctx, "SELECT 1")
	})
}

// Stop stops the server with sig: SIGTERM is a clean shutdown, SIGKILL a
// crash that InnoDB recovers from at the next start.
func (m *MariaDB) Stop(sig syscall.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p == nil {
		return nil
	}
	return m.p.stop(sig)
}

// CreateDatabase creates database name.
func (m *MariaDB) CreateDatabase(ctx context.Context, name string) error {
	return m.exec(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"`")
}

// URL is the tock --store URL of database db.
func (m *MariaDB) URL(db string) string {
	return fmt.Sprintf("mysql://root@127.0.0.1:%d/%s", m.Port, db)
}

func (m *MariaDB) exec(ctx context.Context, sql string) error {
	_, err := m.query(ctx, sql)
	return err
}

// query runs sql with the mariadb client and returns its output: rows one
// a line, columns separated by tabs, no header.
func (m *MariaDB) query(ctx context.Context, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, m.client, "--no-defaults", "--protocol=TCP", "-h127.0.0.1",
		"-P"+strconv.Itoa(m.Port), "-uroot", "--connect-timeout=2", "-N", "-B", "-e", sql).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", sql, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}
