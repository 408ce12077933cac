package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tock-sched/tock/internal/replica"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
)

// Defaults of Options: short, so that a failover fits in a test.
const (
	DefaultReplicas      = 3
	DefaultLeaseTTL      = 3 * time.Second
	DefaultAttemptLease  = 3 * time.Second
	DefaultReapInterval  = 500 * time.Millisecond
	DefaultRequeueAfter  = 2 * time.Second
	DefaultWorkers       = 8
	DefaultShutdownGrace = 5 * time.Second
)

const (
	// killWait bounds how long a SIGKILLed replica may take to be reaped.
	killWait = 10 * time.Second
	// closeGrace is what Close gives SIGTERMed replicas before SIGKILL.
	closeGrace = 2 * time.Second
	// leftoverWait is how long Close waits for replicas' tock-exec
	// processes to die.
	leftoverWait = 10 * time.Second
	// storeCallTimeout bounds each store call of the harness.
	storeCallTimeout = 10 * time.Second
)

// goTool returns the go command: the one on PATH (go test puts GOROOT/bin
// first), else the one of the toolchain that built this program.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// BuildTock builds ./cmd/tock of the module around the working directory into
// dir and returns the binary's path. It is built without -race: it is the
// system under test, and the race detector would slow the 2-core machines
// the failover figures are measured on.
func BuildTock(ctx context.Context, dir string) (string, error) {
	return BuildTockWith(ctx, dir, BuildOptions{})
}

// BuildOptions say how BuildTockWith builds tock.
type BuildOptions struct {
	// Tags are build tags, e.g. "tockfault" for the fault kit's hooks (a
	// replica's clock skewed by TOCK_FAULT_CLOCK_OFFSET, see
	// internal/clock).
	Tags []string
	// Name is the binary's file name in dir. Default "tock", or
	// "tock-" and the tags joined by "-".
	Name string
	// Root is the directory of the tock module to build, e.g. for a
	// program of another module (bench/). Default: the module around the
	// working directory.
	Root string
}

// FaultTag is the build tag of the fault-test hooks.
const FaultTag = "tockfault"

// BuildTockWith is BuildTock with build options.
func BuildTockWith(ctx context.Context, dir string, o BuildOptions) (string, error) {
	gt := goTool()
	root := o.Root
	if root == "" {
		out, err := exec.CommandContext(ctx, gt, "env", "GOMOD").Output()
		if err != nil {
			return "", fmt.Errorf("locating the module with go env GOMOD: %w", err)
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			return "", errors.New("locating the module: go env GOMOD names no go.mod; run from inside the tock module")
		}
		root = filepath.Dir(gomod)
	}
	name := o.Name
	if name == "" {
		name = "tock"
		if len(o.Tags) > 0 {
			name += "-" + strings.Join(o.Tags, "-")
		}
	}
	bin := filepath.Join(dir, name)
	args := []string{"build", "-o", bin}
	if len(o.Tags) > 0 {
		args = append(args, "-tags", strings.Join(o.Tags, ","))
	}
	cmd := exec.CommandContext(ctx, gt, append(args, "./cmd/tock")...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building tock in %s (tags %v): %w\n%s", root, o.Tags, err, b)
	}
	// tock runs command and shell jobs under tock-exec, found beside it.
	cmd = exec.CommandContext(ctx, gt, "build", "-o", filepath.Join(dir, "tock-exec"), "./cmd/tock-exec")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building tock-exec in %s: %w\n%s", root, err, b)
	}
	return bin, nil
}

// Options describe a Cluster.
type Options struct {
	// Binary is the tock executable (see BuildTock). Required.
	Binary string
	// Dir receives one log file per replica. Required.
	Dir string
	// Config is the config file every replica reads. Required.
	Config string
	// StoreURL is the shared mysql:// store. Required.
	StoreURL string
	// RedisURL is the shared Redis. Required.
	RedisURL string
	// Cluster is the --cluster name, i.e. the Redis key prefix. Required.
	Cluster string
	// Replicas is the number of replicas, named node-1 … node-N. Default 3.
	Replicas int
	// LeaseTTL is --lease-ttl. Default 3s.
	LeaseTTL time.Duration
	// AttemptLease is --attempt-lease. Default 3s.
	AttemptLease time.Duration
	// ReapInterval is --reap-interval. Default 500ms.
	ReapInterval time.Duration
	// RequeueAfter is --requeue-after. Default 2s.
	RequeueAfter time.Duration
	// Workers is --workers. Default 8.
	Workers int
	// ShutdownGrace is --shutdown-grace. Default 5s.
	ShutdownGrace time.Duration
	// HTTP gives every replica the API, dashboard and /metrics on a free
	// loopback port (Replica.HTTPAddr); by default they are disabled, so
	// that replicas and parallel tests do not compete for a port.
	HTTP bool
	// Args are extra `tock run` arguments for every replica.
	Args []string
	// LogLevel is every replica's --log-level. Default debug: the audits
	// read the per-attempt lines, which tock logs at debug level.
	LogLevel string
	// PerReplica overrides options of replica i (0-based) with
	// PerReplica[i]; it may be shorter than Replicas. See also
	// Cluster.SetReplicaOptions.
	PerReplica []ReplicaOptions
	// Logger receives the harness's own actions. Default discards.
	Logger *slog.Logger
}

func (o *Options) setDefaults() error {
	for _, req := range []struct{ name, v string }{
		{"Binary", o.Binary}, {"Dir", o.Dir}, {"Config", o.Config},
		{"StoreURL", o.StoreURL}, {"RedisURL", o.RedisURL}, {"Cluster", o.Cluster},
	} {
		if req.v == "" {
			return fmt.Errorf("e2e: Options.%s is required", req.name)
		}
	}
	if o.Replicas <= 0 {
		o.Replicas = DefaultReplicas
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.AttemptLease <= 0 {
		o.AttemptLease = DefaultAttemptLease
	}
	if o.ReapInterval <= 0 {
		o.ReapInterval = DefaultReapInterval
	}
	if o.RequeueAfter <= 0 {
		o.RequeueAfter = DefaultRequeueAfter
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// ReplicaOptions are what one replica does differently from the others:
// e.g. it reaches Redis or the store through a fault proxy, or its clock is
// skewed (Env TOCK_FAULT_CLOCK_OFFSET=3s with a binary built with FaultTag).
type ReplicaOptions struct {
	// RedisURL replaces Options.RedisURL for this replica when set.
	RedisURL string
	// StoreURL replaces Options.StoreURL for this replica when set.
	StoreURL string
	// Env are extra K=V entries of the replica's environment (its jobs
	// inherit them).
	Env []string
	// Args are extra `tock run` arguments, after Options.Args.
	Args []string
}

// ReplicaEnvVar names the variable every replica's environment has, set to
// its name: its jobs inherit it, so that a job body can say where it ran.
const ReplicaEnvVar = "TOCK_E2E_REPLICA"

// Cluster is a set of `tock run` processes sharing a store and a Redis
// prefix, plus the harness's own connection to the store. Its methods are
// safe for concurrent use.
type Cluster struct {
	opts     Options
	store    storage.Store
	cfg      *jobs.Config
	replicas []*Replica
	// waiters owns the goroutines that reap the replicas' processes.
	waiters sync.WaitGroup
	closed  sync.Once
}

// Replica is one `tock run` process slot; it may be started and stopped
// many times.
type Replica struct {
	// Name is its --node.
	Name string
	// LogPath is the file its stdout and stderr are appended to.
	LogPath string

	mu       sync.Mutex
	proc     *os.Process
	done     chan struct{} // closed when the current process was reaped
	state    *os.ProcessState
	starts   int
	httpAddr string
	opts     ReplicaOptions
	frozen   bool // SIGSTOPped by Freeze and not yet thawed
}

// HTTPAddr is the host:port of the replica's API and /metrics with
// Options.HTTP, as of its last start; empty otherwise.
func (r *Replica) HTTPAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.httpAddr
}

// NewCluster loads the config, opens and migrates the store and prepares the
// replicas without starting them.
func NewCluster(ctx context.Context, o Options) (*Cluster, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	cfg, err := jobfile.Load(o.Config)
	if err != nil {
		return nil, fmt.Errorf("loading the cluster's config: %w", err)
	}
	st, err := replica.OpenStore(ctx, o.StoreURL, o.Logger)
	if err != nil {
		return nil, err
	}
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := st.Migrate(mctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrating the cluster's store: %w", err)
	}
	c := &Cluster{opts: o, store: st, cfg: cfg}
	for i := range o.Replicas {
		name := fmt.Sprintf("node-%d", i+1)
		r := &Replica{Name: name, LogPath: filepath.Join(o.Dir, name+".log")}
		if i < len(o.PerReplica) {
			r.opts = o.PerReplica[i]
		}
		c.replicas = append(c.replicas, r)
	}
	return c, nil
}

// Store is the harness's own connection to the cluster's store.
func (c *Cluster) Store() storage.Store { return c.store }

// Jobs are the jobs of the cluster's config, as loaded when it was built.
func (c *Cluster) Jobs() []*jobs.Job { return c.cfg.Jobs }

// Config is the cluster's config, as loaded when it was built.
func (c *Cluster) Config() *jobs.Config { return c.cfg }

// Options returns the cluster's options with defaults filled in.
func (c *Cluster) Options() Options { return c.opts }

// Len is the number of replicas.
func (c *Cluster) Len() int { return len(c.replicas) }

// Replica returns replica i (0-based).
func (c *Cluster) Replica(i int) *Replica { return c.replicas[i] }

// Index returns the index of the replica named node, or -1.
func (c *Cluster) Index(node string) int {
	for i, r := range c.replicas {
		if r.Name == node {
			return i
		}
	}
	return -1
}

// Running reports whether replica i's process is alive.
func (c *Cluster) Running(i int) bool { return c.replicas[i].running() }

// RunningIndexes lists the replicas whose process is alive.
func (c *Cluster) RunningIndexes() []int {
	var out []int
	for i := range c.replicas {
		if c.Running(i) {
			out = append(out, i)
		}
	}
	return out
}

func (r *Replica) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// Pid returns the pid of the replica's current process, 0 if none runs.
func (r *Replica) Pid() int {
	if !r.running() {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc.Pid
}

// ExitState returns how the replica's last process ended, nil while it runs
// or if it never ran.
func (r *Replica) ExitState() *os.ProcessState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// SetReplicaOptions replaces replica i's options; they apply from its next
// start.
func (c *Cluster) SetReplicaOptions(i int, ro ReplicaOptions) {
	r := c.replicas[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts = ro
}

// ReplicaOptions returns replica i's options.
func (c *Cluster) ReplicaOptions(i int) ReplicaOptions {
	r := c.replicas[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opts
}

// args builds replica r's command line; r.mu is held.
func (c *Cluster) args(r *Replica, listen string) []string {
	o := c.opts
	store, redis := o.StoreURL, o.RedisURL
	if r.opts.StoreURL != "" {
		store = r.opts.StoreURL
	}
	if r.opts.RedisURL != "" {
		redis = r.opts.RedisURL
	}
	a := []string{"run",
		"-c", o.Config,
		"--store", store,
		"--redis", redis,
		"--cluster", o.Cluster,
		"--node", r.Name,
		"--lease-ttl", o.LeaseTTL.String(),
		"--attempt-lease", o.AttemptLease.String(),
		"--reap-interval", o.ReapInterval.String(),
		"--requeue-after", o.RequeueAfter.String(),
		"--workers", strconv.Itoa(o.Workers),
		"--shutdown-grace", o.ShutdownGrace.String(),
		"--log-format", "json",
		"--log-level", cmp.Or(o.LogLevel, "debug"),
		"--listen=" + listen,
	}
	a = append(a, o.Args...)
	return append(a, r.opts.Args...)
}

// ReplicaEnv is the harness's environment without TOCK_* variables, so only
// the flags configure a replica.
func ReplicaEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOCK_") {
			env = append(env, kv)
		}
	}
	return env
}

// StartAll starts every replica that is not running.
func (c *Cluster) StartAll() error {
	for i := range c.replicas {
		if c.Running(i) {
			continue
		}
		if err := c.Start(i); err != nil {
			return err
		}
	}
	return nil
}

// Start starts replica i; it is an error if it runs already.
func (c *Cluster) Start(i int) error {
	r := c.replicas[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		select {
		case <-r.done:
		default:
			return fmt.Errorf("starting %s: already running as pid %d", r.Name, r.proc.Pid)
		}
	}
	f, err := os.OpenFile(r.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("starting %s: opening its log: %w", r.Name, err)
	}
	defer f.Close() // the child holds its own descriptor
	listen := ""
	if c.opts.HTTP {
		if listen, err = FreeAddr(); err != nil {
			return fmt.Errorf("starting %s: %w", r.Name, err)
		}
	}
	r.starts++
	fmt.Fprintf(f, "=== e2e: start #%d of %s at %s\n", r.starts, r.Name, time.Now().UTC().Format(time.RFC3339Nano))
	env := append(append(ReplicaEnv(), ReplicaEnvVar+"="+r.Name), r.opts.Env...)
	cmd, err := spawn(c.opts.Binary, c.args(r, listen), env, f) // procs.go
	if err != nil {
		return fmt.Errorf("starting %s: %w", r.Name, err)
	}
	done := make(chan struct{})
	r.proc, r.done, r.state, r.httpAddr, r.frozen = cmd.Process, done, nil, listen, false
	c.waiters.Add(1)
	go func() {
		defer c.waiters.Done()
		// A non-zero exit is read from ProcessState, not from this error.
		_ = cmd.Wait()
		r.mu.Lock()
		r.state = cmd.ProcessState
		r.mu.Unlock()
		close(done)
	}()
	c.opts.Logger.Info("replica started", slog.String("node", r.Name), slog.Int("pid", cmd.Process.Pid))
	return nil
}

// signal sends sig to replica i's process and returns the channel closed
// when it was reaped; nil if it was not running.
func (c *Cluster) signal(i int, sig syscall.Signal) (<-chan struct{}, error) {
	r := c.replicas[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		return nil, nil
	}
	select {
	case <-r.done:
		return nil, nil
	default:
	}
	if err := r.proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return nil, fmt.Errorf("sending %s to %s (pid %d): %w", sig, r.Name, r.proc.Pid, err)
	}
	return r.done, nil
}

// Kill9 SIGKILLs replica i and waits until it is reaped. A replica that is
// not running is left alone.
func (c *Cluster) Kill9(i int) error {
	done, err := c.signal(i, syscall.SIGKILL)
	if err != nil || done == nil {
		return err
	}
	c.opts.Logger.Info("replica killed", slog.String("node", c.replicas[i].Name))
	select {
	case <-done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("%s not reaped %s after SIGKILL", c.replicas[i].Name, killWait)
	}
}

// Freeze SIGSTOPs replica i: it does nothing, answers nothing and its
// timers stand still until Thaw, as a process paused by a debugger, a VM
// pause or a long swap storm. Its job processes are not stopped. A replica
// that is not running is left alone.
func (c *Cluster) Freeze(i int) error {
	r := c.replicas[i]
	done, err := c.signal(i, syscall.SIGSTOP)
	if err != nil || done == nil {
		return err
	}
	r.mu.Lock()
	r.frozen = true
	r.mu.Unlock()
	c.opts.Logger.Info("replica frozen", slog.String("node", r.Name))
	return nil
}

// Thaw SIGCONTs replica i after Freeze.
func (c *Cluster) Thaw(i int) error {
	r := c.replicas[i]
	if _, err := c.signal(i, syscall.SIGCONT); err != nil {
		return err
	}
	r.mu.Lock()
	r.frozen = false
	r.mu.Unlock()
	c.opts.Logger.Info("replica thawed", slog.String("node", r.Name))
	return nil
}

// Frozen reports whether replica i was frozen and not thawed since.
func (c *Cluster) Frozen(i int) bool {
	r := c.replicas[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frozen && r.done != nil
}

// Term SIGTERMs replica i and waits until it exits: its shutdown grace plus
// some seconds to record results, then it is SIGKILLed and an error
// returned. It also returns an error if the process exited non-zero.
func (c *Cluster) Term(i int) error {
	r := c.replicas[i]
	if c.Frozen(i) {
		// A stopped process takes no SIGTERM until it runs again.
		if err := c.Thaw(i); err != nil {
			return err
		}
	}
	done, err := c.signal(i, syscall.SIGTERM)
	if err != nil || done == nil {
		return err
	}
	c.opts.Logger.Info("replica terminated", slog.String("node", r.Name))
	limit := c.opts.ShutdownGrace + 15*time.Second
	select {
	case <-done:
	case <-time.After(limit):
		kerr := c.Kill9(i)
		return errors.Join(fmt.Errorf("%s still running %s after SIGTERM; killed", r.Name, limit), kerr)
	}
	if st := r.ExitState(); st != nil && !st.Success() {
		return fmt.Errorf("%s exited after SIGTERM with %s", r.Name, st)
	}
	return nil
}

// Restart stops replica i if it runs (SIGTERM) and starts it again.
func (c *Cluster) Restart(i int) error {
	if err := c.Term(i); err != nil {
		return err
	}
	return c.Start(i)
}

// Leader returns the node and epoch the store records as leader (I2).
func (c *Cluster) Leader(ctx context.Context) (string, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
	defer cancel()
	n, e, err := c.store.Leader(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("reading the leader: %w", err)
	}
	return n, e, nil
}

// WaitLeader polls the store every every until ok accepts the recorded
// leader, or ctx ends.
func (c *Cluster) WaitLeader(ctx context.Context, every time.Duration, ok func(node string, epoch int64) bool) (string, int64, error) {
	var node string
	var epoch int64
	err := Poll(ctx, every, func(ctx context.Context) (bool, error) {
		n, e, err := c.Leader(ctx)
		if err != nil {
			return false, err
		}
		node, epoch = n, e
		return ok(n, e), nil
	})
	return node, epoch, err
}

// FirstDispatchAfter returns the earliest created_at later than t among
// schedule and catch-up rows scheduled at most lookback before t, and false
// if there is none yet. A leader dispatches a tick when it is due, so the
// first rows a new leader writes are for ticks near t: lookback of a few
// seconds is enough.
func (c *Cluster) FirstDispatchAfter(ctx context.Context, t time.Time, lookback time.Duration) (time.Time, bool, error) {
	rows, err := ListWindow(ctx, c.store, t.Add(-lookback), time.Time{})
	if err != nil {
		return time.Time{}, false, err
	}
	var first time.Time
	for _, r := range rows {
		if !scheduleLike(r.Trigger) || !r.CreatedAt.After(t) {
			continue
		}
		if first.IsZero() || r.CreatedAt.Before(first) {
			first = r.CreatedAt
		}
	}
	return first, !first.IsZero(), nil
}

// WaitDispatchAfter polls until a schedule or catch-up row created after t
// exists and returns its created_at.
func (c *Cluster) WaitDispatchAfter(ctx context.Context, every time.Duration, t time.Time) (time.Time, error) {
	var first time.Time
	err := Poll(ctx, every, func(ctx context.Context) (bool, error) {
		f, ok, err := c.FirstDispatchAfter(ctx, t, 5*time.Second)
		first = f
		return ok, err
	})
	return first, err
}

// ElectedAt reads from node's log when it logged "elected leader" for epoch,
// and false if it has not (yet). The time is the replica's own clock.
func (c *Cluster) ElectedAt(node string, epoch int64) (time.Time, bool, error) {
	i := c.Index(node)
	if i < 0 {
		return time.Time{}, false, fmt.Errorf("no replica named %q", node)
	}
	f, err := os.Open(c.replicas[i].LogPath)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading the log of %s: %w", node, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"elected leader"`)) {
			continue
		}
		var ev struct {
			Time  time.Time `json:"time"`
			Msg   string    `json:"msg"`
			Epoch int64     `json:"epoch"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Msg == "elected leader" && ev.Epoch == epoch {
			return ev.Time, true, nil
		}
	}
	return time.Time{}, false, sc.Err()
}

// Tail writes the last n lines of every replica's log to w.
func (c *Cluster) Tail(w io.Writer, n int) {
	for _, r := range c.replicas {
		fmt.Fprintf(w, "----- last %d lines of %s (%s) -----\n", n, r.Name, r.LogPath)
		lines, err := tailFile(r.LogPath, n)
		if err != nil {
			fmt.Fprintf(w, "(%v)\n", err)
			continue
		}
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

func tailFile(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ring := make([]string, 0, n)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(ring) == n {
			ring = append(ring[:0], ring[1:]...)
		}
		ring = append(ring, sc.Text())
	}
	return ring, sc.Err()
}

// Close SIGTERMs every running replica, SIGKILLs those still alive after a
// short grace, waits for all of them, closes the store and checks that no
// process of the tock binary or of its tock-exec is left; leftovers are
// SIGKILLed and reported in the error. Idempotent.
func (c *Cluster) Close() error {
	var err error
	c.closed.Do(func() { err = c.close() })
	return err
}

func (c *Cluster) close() error {
	var errs []error
	var dones []<-chan struct{}
	for i := range c.replicas {
		if c.Frozen(i) {
			if err := c.Thaw(i); err != nil {
				errs = append(errs, err)
			}
		}
		done, err := c.signal(i, syscall.SIGTERM)
		if err != nil {
			errs = append(errs, err)
		}
		if done != nil {
			dones = append(dones, done)
		}
	}
	grace := time.After(closeGrace)
	for _, d := range dones {
		select {
		case <-d:
		case <-grace:
		}
	}
	for i := range c.replicas {
		if err := c.Kill9(i); err != nil {
			errs = append(errs, err)
		}
	}
	c.waiters.Wait()
	if err := c.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the harness's store: %w", err))
	}
	// tock-exec, beside the binary, ends with its replica and kills the
	// jobs' groups as it goes.
	for _, bin := range []string{c.opts.Binary, filepath.Join(filepath.Dir(c.opts.Binary), "tock-exec")} {
		if err := ReapLeftovers(bin, leftoverWait); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Leftovers returns the pids of live processes running binary (tock's
// replicas, or tock-exec). Zombies do not count.
func Leftovers(binary string) []int {
	abs, err := filepath.Abs(binary)
	if err != nil {
		abs = binary
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue // gone, a zombie, or a kernel thread
		}
		if strings.TrimSuffix(exe, " (deleted)") == abs && ProcessAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ReapLeftovers waits up to wait for every process of binary to end, then
// SIGKILLs the rest and returns an error naming them.
func ReapLeftovers(binary string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		left := Leftovers(binary)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return fmt.Errorf("processes of %s still alive %s after their replicas stopped (killed now): %v", binary, wait, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ProcessAlive reports whether pid is a live process: kill(pid, 0) succeeds
// and it is not a zombie. A zombie has ended; it lingers only until its
// parent (here possibly an init that does not reap) collects it.
func ProcessAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return true
	}
	state := b[i+2]
	return state != 'Z' && state != 'X'
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Poll calls cond every every until it reports true or ctx ends; then it
// returns ctx's error together with cond's last error.
func Poll(ctx context.Context, every time.Duration, cond func(context.Context) (bool, error)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	var last error
	for {
		ok, err := cond(ctx)
		if ok && err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}
