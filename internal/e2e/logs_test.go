package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/redis/redistest"
)

// chattyConfig has one job, run by trigger only, that prints a line every
// 100 ms until the test creates its gate file (one per run and attempt),
// then "done".
func chattyConfig(gates string) string {
	return fmt.Sprintf(`jobs:
  - name: chatty
    schedule: "0 0 0 1 1 *"
    shell: 'i=0; while [ ! -e %s/$TOCK_RUN_ID.$TOCK_ATTEMPT ]; do i=$((i+1)); echo "line $i"; sleep 0.1; done; echo done'
    timeout: 2m
    retries: 1
    retry_backoff: 0s
`, gates)
}

// triggerRun runs `tock trigger job` on the store and returns the run's id.
func triggerRun(t *testing.T, bin, config, storeURL, job string) int64 {
	t.Helper()
	out, err := exec.Command(bin, "trigger", job, "-c", config, "--store", storeURL).CombinedOutput()
	if err != nil {
		t.Fatalf("tock trigger: %v\n%s", err, out)
	}
	m := triggeredRe.FindSubmatch(out)
	if m == nil {
		t.Fatalf("tock trigger printed no run id: %s", out)
	}
	id, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return id
}

// follower is a `tock runs logs -f` process and what it printed so far.
type follower struct {
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{} // closed once it exited, with err
	err    error
}

func (f *follower) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stdout.Write(p)
}

func (f *follower) out() (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stdout.String(), f.stderr.String()
}

func startFollower(t *testing.T, name, bin string, args ...string) *follower {
	t.Helper()
	f := &follower{name: name, done: make(chan struct{})}
	f.cmd = exec.Command(bin, args...)
	f.cmd.Env = ReplicaEnv()
	f.cmd.Stdout = f
	f.cmd.Stderr = lockedBuffer{&f.mu, &f.stderr}
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		defer close(f.done)
		f.err = f.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-f.done:
		default:
			_ = f.cmd.Process.Kill()
			<-f.done
		}
	})
	return f
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// sseFollower reads the API's event stream of a run's output.
type sseFollower struct {
	mu     sync.Mutex
	text   strings.Builder
	end    *api.RunLogs
	offset int64 // next offset seen
	err    error
	done   chan struct{}
}

func (s *sseFollower) snapshot() (string, *api.RunLogs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String(), s.end, s.err
}

func followSSE(t *testing.T, url string) *sseFollower {
	t.Helper()
	s := &sseFollower{done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data := []byte(strings.TrimPrefix(line, "data: "))
				s.mu.Lock()
				switch name {
				case "output":
					var c api.LogChunk
					if err := json.Unmarshal(data, &c); err != nil || c.Offset != s.offset {
						s.err = fmt.Errorf("chunk %s out of order (want offset %d): %v", data, s.offset, err)
					}
					s.text.WriteString(c.Text)
					s.offset = c.Next
				case "end":
					var l api.RunLogs
					if err := json.Unmarshal(data, &l); err != nil {
						s.err = err
					}
					s.end = &l
				default:
					s.err = fmt.Errorf("unexpected event %s: %s", name, data)
				}
				s.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// TestLiveOutputFollowAndKill9 runs a job printing a line every 100 ms on
// three replicas (MariaDB, Redis): `tock runs logs -f` with --store and
// with --server, and the API's event stream, show its lines while it runs
// (it cannot end before the test lets it) and end with its final output
// and state; then a second run's replica is killed with kill -9 mid-run,
// and the output it had flushed stays in history as the lost attempt's.
func TestLiveOutputFollowAndKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: multi-process tests do not run with -short")
	}
	bin := tockBinary(t)
	dir, gates := t.TempDir(), t.TempDir()
	redisURL, prefix := redistest.New(t)
	storeURL := mysqltest.NewDatabase(t)
	config := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(config, []byte(chattyConfig(gates)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, Options{Binary: bin, Dir: dir, Config: config, StoreURL: storeURL, RedisURL: redisURL,
		Cluster: prefix, Replicas: 3, HTTP: true, Args: []string{"--output-flush", "200ms"}}, 30*time.Second)
	ctx := func(d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		t.Cleanup(cancel)
		return ctx
	}
	trigger := func() int64 { return triggerRun(t, bin, config, storeURL, "chatty") }
	open := func(run int64, attempt int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(gates, fmt.Sprintf("%d.%d", run, attempt)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	server := "http://" + c.Replica(0).HTTPAddr()

	// 1. Followers started before the run runs: they wait for its attempt.
	runA := trigger()
	id := strconv.FormatInt(runA, 10)
	viaStore := startFollower(t, "runs logs -f --store", bin, "runs", "logs", "-f", id, "--store", storeURL)
	viaServer := startFollower(t, "runs logs -f --server", bin, "runs", "logs", "-f", id, "--server", server)
	sse := followSSE(t, server+"/api/v1/runs/"+id+"/logs?follow=1")
	err := Poll(ctx(60*time.Second), pollEvery, func(context.Context) (bool, error) {
		s, _ := viaStore.out()
		v, _ := viaServer.out()
		e, _, err := sse.snapshot()
		return strings.Contains(s, "line 5\n") && strings.Contains(v, "line 5\n") && strings.Contains(e, "line 5\n"), err
	})
	if err != nil {
		s, se := viaStore.out()
		v, ve := viaServer.out()
		e, _, _ := sse.snapshot()
		t.Fatalf("followers saw no 5 lines: %v\n--store: %q %q\n--server: %q %q\nsse: %q", err, s, se, v, ve, e)
	}
	// The job cannot have ended: its gate is closed.
	if r, _, err := c.Store().GetRun(ctx(10*time.Second), runA); err != nil || r.Status != jobs.StatusRunning {
		t.Fatalf("run %d is %s (%v) while its followers read its lines; want running", runA, r.Status, err)
	}
	open(runA, 1)
	for _, f := range []*follower{viaStore, viaServer} {
		select {
		case <-f.done:
			if f.err != nil {
				_, se := f.out()
				t.Fatalf("%s: %v\n%s", f.name, f.err, se)
			}
		case <-ctx(60 * time.Second).Done():
			t.Fatalf("%s did not end after the attempt did", f.name)
		}
	}
	<-sse.done
	_, atts, err := c.Store().GetRun(ctx(10*time.Second), runA)
	if err != nil || len(atts) != 1 || atts[0].Status != jobs.StatusSucceeded {
		t.Fatalf("run %d: attempts %+v, %v", runA, atts, err)
	}
	final := atts[0].Output
	if !strings.HasPrefix(final, "line 1\nline 2\n") || !strings.HasSuffix(final, "done\n") {
		t.Fatalf("final output %q", final)
	}
	for _, f := range []*follower{viaStore, viaServer} {
		out, errOut := f.out()
		if out != final {
			t.Errorf("%s printed %q, want the final output %q", f.name, out, final)
		}
		if want := fmt.Sprintf("-- attempt 1 of run %d succeeded (exit 0)\n", runA); errOut != want {
			t.Errorf("%s said %q on stderr, want %q", f.name, errOut, want)
		}
	}
	text, end, err := sse.snapshot()
	if err != nil || text != final || end == nil || end.Status != jobs.StatusSucceeded || !end.Ended || end.ExitCode == nil || *end.ExitCode != 0 {
		t.Errorf("event stream: %v; text %q (final %q), end %+v", err, text, final, end)
	}
	t.Logf("run %d: %d lines followed live by --store, --server and the event stream", runA, strings.Count(final, "\n"))

	// 2. kill -9 the replica of a running attempt: its flushed output stays.
	runB := trigger()
	var flushed string
	var node string
	err = Poll(ctx(60*time.Second), pollEvery, func(ctx context.Context) (bool, error) {
		r, a, err := c.Store().GetRun(ctx, runB)
		if err != nil || r.Status != jobs.StatusRunning || len(a) != 1 {
			return false, err
		}
		flushed, node = a[0].Output, r.Node
		return strings.Contains(flushed, "line 3\n"), nil
	})
	if err != nil {
		t.Fatalf("run %d: no live output in the store: %v (last %q)", runB, err, flushed)
	}
	victim := c.Index(node)
	if err := c.Kill9(victim); err != nil {
		t.Fatal(err)
	}
	var atts2 []jobs.Attempt
	err = Poll(ctx(60*time.Second), pollEvery, func(ctx context.Context) (bool, error) {
		_, a, err := c.Store().GetRun(ctx, runB)
		atts2 = a
		return err == nil && len(a) >= 1 && a[0].Status == jobs.StatusLost, err
	})
	if err != nil {
		t.Fatalf("run %d: attempt 1 not lost after kill -9 of %s: %+v, %v", runB, node, atts2, err)
	}
	lost := atts2[0].Output
	if !strings.HasPrefix(lost, flushed) || !strings.HasPrefix(lost, "line 1\nline 2\nline 3\n") || strings.Contains(lost, "done") {
		t.Errorf("lost attempt's output %q; want what was flushed before the kill (%q) or more", lost, flushed)
	}
	t.Logf("run %d: kill -9 of %s; the lost attempt keeps %d lines of output (%d bytes seen flushed before the kill)",
		runB, node, strings.Count(lost, "\n"), len(flushed))
	// The retry runs on another replica; let it end.
	open(runB, 2)
	err = Poll(ctx(60*time.Second), pollEvery, func(ctx context.Context) (bool, error) {
		r, _, err := c.Store().GetRun(ctx, runB)
		return err == nil && r.Status == jobs.StatusSucceeded, err
	})
	if err != nil {
		t.Errorf("run %d: retry did not succeed: %v", runB, err)
	}
}
