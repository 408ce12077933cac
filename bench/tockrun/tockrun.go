// Package tockrun is what the benchmark adds to tock's process harness
// (internal/e2e, which builds tock, starts and stops its processes, finds
// free ports and reads their JSON logs): the generated tock.yaml of http
// jobs and their names, the HTTP service those jobs call, a process's CPU
// time, and scraping /metrics and /debug/pprof.
package tockrun

import (
	"bytes"
	"context"
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
	"time"

	"github.com/tock-sched/tock/bench/stats"
)

// Sink is the HTTP service the benchmark's jobs call: it answers 204,
// counts requests and, while a scenario tracks them, stamps the arrival of
// every request for /NAME (a JobName) against the tick its
// X-Tock-Scheduled-At header names (tock sends it; the peers' bodies send
// the tick they fired for), or the period grid instant before the arrival.
type Sink struct {
	URL     string
	Hits    atomic.Int64
	tracked atomic.Pointer[stats.Ticks]
	srv     *http.Server
	done    chan struct{}
}

// Track stamps arrivals into t from now on; nil stops stamping.
func (s *Sink) Track(t *stats.Ticks) { s.tracked.Store(t) }

// JobURL is the URL job i calls.
func (s *Sink) JobURL(i int) string { return s.URL + JobName(i) }

// observe stamps one arrival.
func (s *Sink) observe(r *http.Request, at time.Time) {
	t := s.tracked.Load()
	if t == nil {
		return
	}
	i := JobIndex(strings.TrimPrefix(r.URL.Path, "/"))
	if i < 0 {
		return
	}
	if tick, err := time.Parse(time.RFC3339Nano, r.Header.Get("X-Tock-Scheduled-At")); err == nil {
		t.ObserveAt(i, tick, at)
		return
	}
	t.Observe(i, at)
}

// StartSink listens on a loopback port.
func StartSink() (*Sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{URL: "http://" + l.Addr().String() + "/", done: make(chan struct{})}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.observe(r, time.Now())
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

// WriteConfig writes a tock.yaml of n http jobs, job i calling url+JobName(i);
// spec(i) is job i's schedule.
func WriteConfig(path string, n int, url string, spec func(i int) string) error {
	var b bytes.Buffer
	b.Grow(n * 110)
	b.WriteString("defaults:\n  timezone: UTC\n  timeout: 30s\n  concurrency: allow\n  misfire: run_all\n  catchup_window: 1h\n")
	b.WriteString("history:\n  keep: 1d\njobs:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: %s\n    schedule: %q\n    http: {method: GET, url: %q}\n", JobName(i), spec(i), url+JobName(i))
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// RSS is pid's resident memory now (VmRSS) and its peak so far (VmHWM),
// in bytes, from /proc.
func RSS(pid int) (rss, peak float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb * 1024
		} else {
			peak = kb * 1024
		}
	}
	return rss, peak, nil
}

// PidsByName lists the processes whose command name (/proc/PID/comm) is one
// of names.
func PidsByName(names ...string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		for _, n := range names {
			if comm == n {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// CPUTimes is the CPU time of pids together so far; processes that are gone
// count nothing.
func CPUTimes(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		if t, err := CPUTime(pid); err == nil {
			sum += t
		}
	}
	return sum
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

// WriteCommandConfig writes a tock.yaml of n command jobs; argv(i) is job
// i's command and spec(i) its schedule.
func WriteCommandConfig(path string, n int, argv func(i int) []string, spec func(i int) string) error {
	var b bytes.Buffer
	b.WriteString("defaults:\n  timezone: UTC\n  timeout: 30s\n  concurrency: allow\n  misfire: run_all\n  catchup_window: 1h\n")
	b.WriteString("history:\n  keep: 1d\njobs:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: %s\n    schedule: %q\n    command: [", JobName(i), spec(i))
		for k, a := range argv(i) {
			if k > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", a)
		}
		b.WriteString("]\n")
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// BuildStamp builds the stamp program (bench/cmd/stamp), the command jobs'
// body, into dir.
func BuildStamp(ctx context.Context, benchRoot, dir string) (string, error) {
	out := filepath.Join(dir, "stamp")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/stamp")
	cmd.Dir = benchRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building stamp: %v\n%s", err, b)
	}
	return out, nil
}
