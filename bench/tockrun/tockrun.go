// Package tockrun starts tock as the operators do — the built binary, a
// generated tock.yaml, an HTTP service for its jobs — and reads back what
// it did from its JSON logs and its history.
package tockrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tock-sched/tock/internal/e2e"
)

// Build compiles root/cmd/tock into dir and returns the binary.
func Build(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "tock")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tock")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building tock in %s: %w\n%s", root, err, out)
	}
	return bin, nil
}

// Sink is the HTTP service the benchmark's jobs call: it answers 204 and
// counts requests.
type Sink struct {
	URL  string
	Hits atomic.Int64
	srv  *http.Server
	done chan struct{}
}

// StartSink listens on a loopback port.
func StartSink() (*Sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{URL: "http://" + l.Addr().String() + "/", done: make(chan struct{})}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(l)
	}()
	return s, nil
}

// Close stops the sink.
func (s *Sink) Close() {
	_ = s.srv.Close()
	<-s.done
}

// JobName is the name of benchmark job i.
func JobName(i int) string { return fmt.Sprintf("j%07d", i) }

// JobIndex parses a JobName; -1 for other names.
func JobIndex(name string) int {
	if len(name) != 8 || name[0] != 'j' {
		return -1
	}
	i, err := strconv.Atoi(name[1:])
	if err != nil {
		return -1
	}
	return i
}

// WriteConfig writes a tock.yaml of n http jobs against url; spec(i) is
// job i's schedule.
func WriteConfig(path string, n int, url string, spec func(i int) string) error {
	var b bytes.Buffer
	b.Grow(n * 110)
	b.WriteString("defaults:\n  timezone: UTC\n  timeout: 30s\n  concurrency: allow\n  misfire: run_all\n  catchup_window: 1h\n")
	b.WriteString("history:\n  keep: 1d\njobs:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: %s\n    schedule: %q\n    http: {method: GET, url: %q}\n", JobName(i), spec(i), url)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// Proc is one tock process.
type Proc struct {
	Cmd     *exec.Cmd
	LogPath string
	done    chan struct{}
}

// Start runs bin with args, appending its output to logPath.
func Start(bin, logPath string, args ...string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = e2e.ReplicaEnv() // only the flags configure tock
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		_ = cmd.Wait()
	}()
	return p, nil
}

// Stop sends SIGTERM and waits up to grace, then SIGKILL.
func (p *Proc) Stop(grace time.Duration) {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Started is one "attempt started" event of a log.
type Started struct {
	Time      time.Time
	Job       string
	RunID     int64
	Attempt   int
	FireDelay time.Duration
	Node      string
}

// Event is any log line's common fields.
type Event struct {
	Time  time.Time      `json:"time"`
	Msg   string         `json:"msg"`
	Level string         `json:"level"`
	Raw   map[string]any `json:"-"`
}

// ScanStarted calls f for every "attempt started" line of the logs.
func ScanStarted(paths []string, f func(Started)) error {
	needle := []byte(`"msg":"attempt started"`)
	for _, path := range paths {
		if err := scanLines(path, func(line []byte) {
			if !bytes.Contains(line, needle) {
				return
			}
			var ev struct {
				Time      time.Time `json:"time"`
				Job       string    `json:"job"`
				RunID     int64     `json:"run_id"`
				Attempt   int       `json:"attempt"`
				FireDelay string    `json:"fire_delay"` // "1.5ms": tock logs durations as text
				Node      string    `json:"node"`
			}
			if json.Unmarshal(line, &ev) != nil {
				return
			}
			d, err := time.ParseDuration(ev.FireDelay)
			if err != nil {
				return
			}
			f(Started{Time: ev.Time, Job: ev.Job, RunID: ev.RunID, Attempt: ev.Attempt, FireDelay: d, Node: ev.Node})
		}); err != nil {
			return err
		}
	}
	return nil
}

// FindEvent returns the first line of path after from whose msg is msg
// and that contains every one of contains, decoded into a map.
func FindEvent(path, msg string, from time.Time, contains ...string) (time.Time, map[string]any, bool, error) {
	needle := []byte(`"msg":"` + msg + `"`)
	var at time.Time
	var found map[string]any
	err := scanLines(path, func(line []byte) {
		if found != nil || !bytes.Contains(line, needle) {
			return
		}
		for _, c := range contains {
			if !bytes.Contains(line, []byte(c)) {
				return
			}
		}
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			return
		}
		ts, _ := m["time"].(string)
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || t.Before(from) {
			return
		}
		at, found = t, m
	})
	return at, found, found != nil, err
}

func scanLines(path string, f func([]byte)) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 256<<10), 4<<20)
	for sc.Scan() {
		f(sc.Bytes())
	}
	return sc.Err()
}

// WaitEvent polls path until FindEvent succeeds or ctx ends.
func WaitEvent(ctx context.Context, path, msg string, from time.Time, contains ...string) (time.Time, map[string]any, error) {
	for {
		at, m, ok, err := FindEvent(path, msg, from, contains...)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return time.Time{}, nil, err
		}
		if ok {
			return at, m, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, nil, fmt.Errorf("waiting for %q in %s: %w", msg, path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CPUTime is the user+system CPU time of pid so far (from /proc).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+2:]))
	// fields[0] is state (field 3); utime and stime are fields 14, 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// fetch GETs url and returns its body; an answer other than 200 is an
// error. The body is always read to the end: a response cut short makes
// tock log write errors.
func fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// Metric reads one unlabelled sample from a Prometheus text endpoint.
func Metric(ctx context.Context, url, name string) (float64, error) {
	body, err := fetch(ctx, url)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("%s: no sample %s", url, name)
}

// Get fetches url and discards the body (e.g. /debug/pprof/heap?gc=1 to
// force a collection).
func Get(ctx context.Context, url string) error {
	_, err := fetch(ctx, url)
	return err
}

// Save fetches url into path.
func Save(ctx context.Context, url, path string) error {
	body, err := fetch(ctx, url)
	if err != nil {
		return err
	}
	return os.WriteFile(path, body, 0o644)
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
