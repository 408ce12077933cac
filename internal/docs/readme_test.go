package docs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/e2e"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/redis/redistest"
)

const (
	// readmeTimeout bounds one README section's test, processes included.
	readmeTimeout = 4 * time.Minute
	// readyTimeout bounds the wait for what a section's servers must show.
	readyTimeout = 60 * time.Second
	// stopWait is how long stopped tock processes may take to exit before
	// they are killed.
	stopWait = 30 * time.Second
)

// shellBlocks returns the shell code blocks (```sh, ```bash, ```shell) of
// the README section whose level-2 heading is title, up to the next level-2
// heading.
func shellBlocks(t *testing.T, title string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks       []string
		in, started  bool
		fenced, keep bool
		code         strings.Builder
	)
	for _, line := range strings.Split(string(b), "\n") {
		if !fenced && strings.HasPrefix(line, "## ") {
			if in {
				break
			}
			in = strings.TrimSpace(strings.TrimPrefix(line, "## ")) == title
			started = started || in
			continue
		}
		if !in {
			continue
		}
		fence := strings.TrimSpace(line)
		switch {
		case !fenced && strings.HasPrefix(fence, "```"):
			lang := strings.TrimPrefix(fence, "```")
			fenced, keep = true, lang == "sh" || lang == "bash" || lang == "shell"
			code.Reset()
		case fenced && fence == "```":
			fenced = false
			if keep {
				blocks = append(blocks, code.String())
			}
		case fenced:
			code.WriteString(line + "\n")
		}
	}
	if !started {
		t.Fatalf("README.md has no section \"## %s\"", title)
	}
	if len(blocks) == 0 {
		t.Fatalf("README.md section %q has no shell code block", title)
	}
	return blocks
}

// substitution rewrites one thing of a README example for the test: its
// binary, ports, database and Redis. Each must apply at least once, so an
// example that no longer says what the test expects fails instead of
// running against the wrong service.
type substitution struct {
	what string
	re   *regexp.Regexp
	repl func(match string) string
}

func literal(what, old, new string) substitution {
	return substitution{what: what, re: regexp.MustCompile(regexp.QuoteMeta(old)), repl: func(string) string { return new }}
}

// rewrite applies subs to block, in order.
func rewrite(t *testing.T, block string, subs []substitution) string {
	t.Helper()
	for _, s := range subs {
		n := 0
		block = s.re.ReplaceAllStringFunc(block, func(m string) string {
			n++
			return s.repl(m)
		})
		if n == 0 {
			t.Fatalf("README example no longer matches %s (%s); update the example or this test:\n%s", s.what, s.re, block)
		}
	}
	return block
}

// foregroundRun matches a `tock run` command without a trailing &: the
// README runs it in a terminal of its own, the test in the background.
func foregroundRun(bin string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^(\s*` + regexp.QuoteMeta(bin) + ` run\b[^&#\n]*?)\s*(#.*)?$`)
}

// shellSession runs README blocks in bash, one after another, in one
// working directory. Every block runs in its own process group, so the
// servers it leaves in the background are found and stopped at the end.
type shellSession struct {
	t    *testing.T
	dir  string
	env  []string
	bin  string
	n    int
	pgid []int
}

// newShellSession prepares a session in a fresh directory in which
// examples/ is the repository's, and stops everything it started at the
// end of the test.
func newShellSession(t *testing.T, bin string, env []string) *shellSession {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "examples"), filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	s := &shellSession{t: t, dir: dir, env: env, bin: bin}
	t.Cleanup(s.stop)
	return s
}

// run runs one block with `set -euo pipefail` and fails the test if it
// fails. It returns the block's output.
func (s *shellSession) run(ctx context.Context, block string) string {
	s.t.Helper()
	s.n++
	script := filepath.Join(s.dir, fmt.Sprintf("block%d.sh", s.n))
	if err := os.WriteFile(script, []byte("set -euo pipefail\n"+block), 0o644); err != nil {
		s.t.Fatal(err)
	}
	// A file, not a pipe: servers left in the background keep it open,
	// and Wait must not wait for them.
	out, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("block%d.log", s.n)))
	if err != nil {
		s.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = s.dir, s.env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.pgid = append(s.pgid, cmd.Process.Pid)
	err = cmd.Wait()
	text, _ := os.ReadFile(out.Name())
	if err != nil {
		s.t.Fatalf("README block failed: %v\n--- script\n%s--- output\n%s", err, block, tail(string(text), 60))
	}
	return string(text)
}

// tock runs the test's binary in the session directory and returns its
// standard output.
func (s *shellSession) tock(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Dir, cmd.Env = s.dir, s.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tock %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// stop sends SIGTERM to every block's process group — tock hands over and
// records its attempts — waits for every process of the binary (replicas
// and their tock-exec) to end, and kills what is left.
func (s *shellSession) stop() {
	for _, pg := range s.pgid {
		_ = syscall.Kill(-pg, syscall.SIGTERM)
	}
	if err := e2e.ReapLeftovers(s.bin, stopWait); err != nil {
		s.t.Error(err)
	}
	for _, pg := range s.pgid {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
	}
	if s.t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(s.dir, "block*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			s.t.Logf("%s:\n%s", filepath.Base(l), tail(string(b), 40))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// buildTock builds the binaries the README examples run instead of
// bin/tock (tock-exec beside it).
func buildTock(ctx context.Context, t *testing.T) string {
	t.Helper()
	bin, err := e2e.BuildTock(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// makeDryRun turns `make TARGET` into a dry run in the repository: the
// target must exist, but the test does not build or test anything twice
// (`make test` would run this test again).
func makeDryRun(t *testing.T) substitution {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	return substitution{what: "a make command", re: regexp.MustCompile(`(?m)^(\s*)make `),
		repl: func(m string) string { return strings.TrimSuffix(m, "make ") + "make -s -n -C " + root + " " }}
}

// TestReadmeQuickStart runs the shell blocks of README's "Quick start" as
// written, with bin/tock replaced by a freshly built binary, in a
// fresh directory (so the embedded store tock.db is the test's own), the
// HTTP server on a free port (TOCK_LISTEN), and `make` targets checked with
// a dry run. The foreground `tock run` runs in the background; before the
// next block the test waits until history shows a run, as a reader would
// wait "a few seconds".
func TestReadmeQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tock processes")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), readmeTimeout)
	defer cancel()
	bin := buildTock(ctx, t)
	port, err := e2e.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	env := append(e2e.ReplicaEnv(), "TOCK_LISTEN=127.0.0.1:"+strconv.Itoa(port))
	s := newShellSession(t, bin, env)
	subs := []substitution{
		makeDryRun(t),
		literal("bin/tock", "bin/tock ", bin+" "),
	}
	blocks := shellBlocks(t, "Quick start")
	if !strings.Contains(strings.Join(blocks, ""), "bin/tock run ") {
		t.Fatalf("the quick start no longer starts tock with `bin/tock run`; update the example or this test")
	}
	fg := foregroundRun(bin)
	for _, block := range blocks {
		block = rewriteOptional(block, subs)
		starts := fg.MatchString(block)
		block = fg.ReplaceAllString(block, "$1 & $2")
		s.run(ctx, block)
		if !starts {
			continue
		}
		readyCtx, cancelReady := context.WithTimeout(ctx, readyTimeout)
		err := e2e.Poll(readyCtx, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
			out, err := s.tock(ctx, "runs", "-o", "json", "--limit", "1")
			if err != nil {
				return false, err
			}
			var runs []json.RawMessage
			if err := json.Unmarshal(out, &runs); err != nil {
				return false, fmt.Errorf("tock runs -o json: %w: %s", err, out)
			}
			return len(runs) > 0, nil
		})
		cancelReady()
		if err != nil {
			t.Fatalf("the embedded tock of the quick start recorded no run: %v", err)
		}
	}
}

// rewriteOptional applies the substitutions that match block; a Quick
// start block need not contain all of them. The section as a whole is
// checked by the caller.
func rewriteOptional(block string, subs []substitution) string {
	for _, s := range subs {
		block = s.re.ReplaceAllStringFunc(block, s.repl)
	}
	return block
}

// freshDatabase returns the name and URL of a database that does not exist
// yet on the test server, and drops it when the test ends.
func freshDatabase(t *testing.T) (string, string) {
	t.Helper()
	server := mysqltest.Server(t)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := mysqltest.Prefix + "readme_" + hex.EncodeToString(b[:])
	mysqltest.DropAfter(t, server, name)
	u := *server
	u.Path = "/" + name
	return name, u.String()
}

// clusterNode is what the test reads of `tock cluster -o json`.
type clusterNode struct {
	ID     string `json:"id"`
	Alive  bool   `json:"alive"`
	Leader bool   `json:"leader"`
}

// TestReadmeReplicas runs the shell block of README's "Running several
// replicas" as written, with bin/tock replaced by a freshly built binary,
// the database by a fresh one on the test server (created by the block's
// own command, dropped after the test), Redis by the test Redis with a
// cluster name of the test's own (TOCK_CLUSTER), and each --listen port by
// a free one. Then `tock cluster` must show three live replicas, one of
// them the leader.
func TestReadmeReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tock processes")
	}
	t.Parallel()
	server := mysqltest.Server(t)
	redisURL, prefix := redistest.New(t)
	db, dbURL := freshDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), readmeTimeout)
	defer cancel()
	if _, err := exec.LookPath("mysql"); err != nil {
		t.Fatalf("the example creates its database with the mysql client, which is not installed: %v", err)
	}
	bin := buildTock(ctx, t)

	env := append(e2e.ReplicaEnv(), "TOCK_CLUSTER="+prefix)
	mysqlPort := server.Port()
	if mysqlPort == "" {
		mysqlPort = "3306"
	}
	client := fmt.Sprintf("-h %s -P %s -u %s", server.Hostname(), mysqlPort, server.User.Username())
	if pw, ok := server.User.Password(); ok {
		env = append(env, "MYSQL_PWD="+pw)
	}
	var (
		ports     = map[string]string{} // --listen of the example → of the test
		listens   []string
		listenErr error
	)
	subs := []substitution{
		makeDryRun(t),
		literal("the mysql client's server", "-h 127.0.0.1 -P 3306 -u root", client),
		{what: "the database the example creates", re: regexp.MustCompile(`(CREATE DATABASE (?:IF NOT EXISTS )?)tock\b`),
			repl: func(m string) string { return strings.TrimSuffix(m, "tock") + db }},
		literal("the store URL", "mysql://root@127.0.0.1:3306/tock", dbURL),
		literal("the Redis URL", "redis://127.0.0.1:6379/0", redisURL),
		// One free port per port of the example: replicas the example
		// puts on one address collide in the test too.
		{what: "a --listen address", re: regexp.MustCompile(`--listen 127\.0\.0\.1:[0-9]+`), repl: func(m string) string {
			if free, ok := ports[m]; ok {
				return "--listen " + free
			}
			port, err := e2e.FreePort()
			listenErr = errors.Join(listenErr, err)
			ports[m] = "127.0.0.1:" + strconv.Itoa(port)
			listens = append(listens, ports[m])
			return "--listen " + ports[m]
		}},
		literal("bin/tock", "bin/tock ", bin+" "),
	}
	blocks := shellBlocks(t, "Running several replicas")
	if len(blocks) != 1 {
		t.Fatalf("README section \"Running several replicas\" has %d shell blocks; this test runs one", len(blocks))
	}
	block := rewrite(t, blocks[0], subs)
	if listenErr != nil {
		t.Fatal(listenErr)
	}
	if n := strings.Count(block, bin+" run "); n != 3 {
		t.Fatalf("the example starts %d replicas; this test expects three", n)
	}
	if len(listens) != 3 {
		t.Fatalf("the example's replicas listen on %d distinct addresses; each of three replicas needs its own", len(listens))
	}
	s := newShellSession(t, bin, env)
	s.run(ctx, block)

	var nodes []clusterNode
	readyCtx, cancelReady := context.WithTimeout(ctx, readyTimeout)
	defer cancelReady()
	err := e2e.Poll(readyCtx, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		out, err := s.tock(ctx, "cluster", "--store", dbURL, "-o", "json")
		if err != nil {
			return false, err
		}
		var c struct {
			Nodes []clusterNode `json:"nodes"`
		}
		if err := json.Unmarshal(out, &c); err != nil {
			return false, fmt.Errorf("tock cluster -o json: %w: %s", err, out)
		}
		nodes = c.Nodes
		alive, leaders := 0, 0
		for _, n := range nodes {
			if n.Alive {
				alive++
			}
			if n.Leader {
				leaders++
			}
		}
		return alive == 3 && len(nodes) == 3 && leaders == 1, nil
	})
	if err != nil {
		t.Fatalf("tock cluster should show three live replicas and a leader; it shows %+v: %v", nodes, err)
	}
	// Each replica must still run and serve on its own address, not just
	// have registered before it failed to listen.
	for _, addr := range listens {
		err := e2e.Poll(readyCtx, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
			return healthy(ctx, "http://"+addr+"/healthz")
		})
		if err != nil {
			t.Errorf("replica on %s: /healthz: %v", addr, err)
		}
	}
}

// healthy reports whether url answers 200.
func healthy(ctx context.Context, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return true, nil
}
