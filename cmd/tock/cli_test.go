package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/sqlite"
)

const testToken = "cli-test-token"

// clearEnv keeps the host's TOCK_* variables out of a test.
func clearEnv(t *testing.T) {
	for _, k := range []string{"TOCK_SERVER", "TOCK_TOKEN", "TOCK_STORE", "TOCK_CONFIG", "TOCK_LOG_FORMAT", "TOCK_LOG_LEVEL"} {
		t.Setenv(k, "")
	}
}

// result is what one command line did.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command line as main does, on the history's clock.
func cli(args ...string) result {
	var out, errb bytes.Buffer
	code := execute(newRoot(apitest.NowClock()), args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// mode is how the CLI reaches a fresh copy of the apitest history.
type mode struct {
	name  string
	setup func(t *testing.T) (flags []string, h *apitest.History)
}

var modes = []mode{{"store", storeFixture}, {"server", serverFixture}}

// storeFixture writes the history to a SQLite file and the config to a
// YAML file, for --store and --config.
func storeFixture(t *testing.T) ([]string, *apitest.History) {
	t.Helper()
	dir := t.TempDir()
	url, st := migratedStore(t, dir)
	h := apitest.NewHistoryIn(t, st)
	// The CLI opens the file itself.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(cfg, []byte(apitest.ConfigYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"--store", url, "--config", cfg}, h
}

// migratedStore opens a migrated SQLite store in dir and returns its
// --store URL with it; the caller closes it (the CLI opens the file itself).
func migratedStore(t *testing.T, dir string) (string, *sqlite.Store) {
	t.Helper()
	url := "sqlite:" + filepath.Join(dir, "tock.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, url, sqlite.Options{})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return url, st
}

// expectExit returns a runner of the CLI with flags appended that fails
// the test unless the exit code is the one given.
func expectExit(t *testing.T, flags []string) func(code int, args ...string) result {
	return func(code int, args ...string) result {
		t.Helper()
		r := cli(append(args, flags...)...)
		if r.code != code {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, code, r.stdout, r.stderr)
		}
		return r
	}
}

// serverFixture serves the history's API with a token, for --server.
func serverFixture(t *testing.T) ([]string, *apitest.History) {
	t.Helper()
	h := apitest.NewHistory(t)
	srv := serveAPI(t, h, api.Auth{Token: testToken})
	return []string{"--server", srv.URL, "--token", testToken}, h
}

func serveAPI(t *testing.T, h *apitest.History, auth api.Auth) *httptest.Server {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := api.NewService(api.ServiceOptions{Store: h.Store, Config: func() *jobs.Config { return h.Config },
		Clock: apitest.NowClock(), Logger: quiet})
	a, err := api.New(api.Options{Service: svc, Auth: auth, Logger: quiet})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// ago is a history time.
func ago(minutes int) time.Time { return apitest.Now.Add(-time.Duration(minutes) * time.Minute) }

// stamp is a run's keyset position as `tock runs` prints it after a page.
func stamp(runID int64, scheduled time.Time) string {
	return fmt.Sprintf("%s,%d", scheduled.Format(time.RFC3339Nano), runID)
}

// cliCase is a command line (after earlier ones that must succeed) and
// what it must print in both modes.
type cliCase struct {
	name string
	// cmds are the command lines; the last one is checked.
	cmds func(h *apitest.History) [][]string
	code int
	// stdout and stderr must contain these.
	stdout, stderr []string
	// check inspects stdout further.
	check func(t *testing.T, h *apitest.History, stdout string)
	// stderrByMode: stderr names where the answer came from, so it
	// differs between the modes.
	stderrByMode bool
}

func one(args ...string) func(*apitest.History) [][]string {
	return func(*apitest.History) [][]string { return [][]string{args} }
}

// runFields are the keys every object of `runs -o json` has.
var runFields = []string{"id", "job", "scheduled_at", "trigger", "status", "attempt", "node", "started_at", "finished_at", "exit_code", "error", "output"}

func decodeObjects(t *testing.T, s string) []map[string]any {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("stdout is not a JSON array of objects: %v\n%s", err, s)
	}
	return v
}

func jsonIDs(t *testing.T, s string) []int64 {
	t.Helper()
	var ids []int64
	for _, o := range decodeObjects(t, s) {
		ids = append(ids, int64(o["id"].(float64)))
	}
	return ids
}

func dataLines(s string) int { return strings.Count(s, "\n") - 1 }

var cliCases = []cliCase{
	{name: "jobs", cmds: one("jobs"), stdout: []string{"JOB  ", "backup", "*/5 * * * *", "Europe/Berlin", "frozen"},
		check: func(t *testing.T, h *apitest.History, out string) {
			if dataLines(out) != 3 || !strings.Contains(out, id(h.Queued)+" @ 2026-11-28 11:20:00.000") {
				t.Errorf("want 3 jobs, backup's last run %d:\n%s", h.Queued, out)
			}
		}},
	{name: "jobs json", cmds: one("jobs", "-o", "json"), check: func(t *testing.T, h *apitest.History, out string) {
		js := decodeObjects(t, out)
		if len(js) != 3 {
			t.Fatalf("%d jobs, want 3", len(js))
		}
		for _, k := range []string{"name", "schedule", "timezone", "executor", "paused", "next_fire", "last_run_id", "last_status", "last_scheduled_at", "digest"} {
			if _, ok := js[0][k]; !ok {
				t.Errorf("job lacks %q: %v", k, js[0])
			}
		}
		if js[1]["name"] != "frozen" || js[1]["paused"] != true || js[0]["last_status"] != "queued" {
			t.Errorf("jobs = %v", js)
		}
	}},
	{name: "runs", cmds: one("runs"), stdout: []string{"ID  JOB", "exit status 3", "node-a"},
		check: func(t *testing.T, _ *apitest.History, out string) {
			if dataLines(out) != 5 {
				t.Errorf("want 5 runs:\n%s", out)
			}
		}},
	{name: "runs json", cmds: one("runs", "-o", "json"), check: func(t *testing.T, h *apitest.History, out string) {
		rs := decodeObjects(t, out)
		if len(rs) != 5 {
			t.Fatalf("%d runs, want 5", len(rs))
		}
		for _, r := range rs {
			for _, k := range runFields {
				if _, ok := r[k]; !ok {
					t.Errorf("run %v lacks %q", r["id"], k)
				}
			}
			switch int64(r["id"].(float64)) {
			case h.Succeeded:
				if r["output"] != apitest.ScriptOutput || r["exit_code"] != 0.0 {
					t.Errorf("succeeded run = %v", r)
				}
			case h.Failed:
				if r["output"] != "disk full\n" || r["exit_code"] != 3.0 || r["error"] != "exit status 3" {
					t.Errorf("failed run = %v", r)
				}
			}
		}
	}},
	{name: "runs filtered", cmds: one("runs", "--job", "backup", "--status", "failed", "--trigger", "schedule"), stdout: []string{"exit status 3"},
		check: func(t *testing.T, _ *apitest.History, out string) {
			if dataLines(out) != 1 {
				t.Errorf("want 1 run:\n%s", out)
			}
		}},
	{name: "runs since", cmds: one("runs", "--since", "32m", "-o", "json"), check: func(t *testing.T, h *apitest.History, out string) {
		if ids := jsonIDs(t, out); len(ids) != 1 || ids[0] != h.Missed {
			t.Errorf("runs %v, want [%d]", ids, h.Missed)
		}
	}},
	{name: "runs first page", cmds: one("runs", "--limit", "2"), check: func(t *testing.T, h *apitest.History, out string) {
		if dataLines(out) != 2 {
			t.Errorf("want 2 runs:\n%s", out)
		}
	}, stderr: []string{"more: --before 2026-11-28T11:25:00Z,"}},
	{name: "runs next page, printed cursor", cmds: func(h *apitest.History) [][]string {
		return [][]string{{"runs", "--limit", "2", "-o", "json", "--before", stamp(h.Running, ago(35))}}
	}, check: func(t *testing.T, h *apitest.History, out string) {
		if ids := jsonIDs(t, out); len(ids) != 2 || ids[0] != h.Queued || ids[1] != h.Failed {
			t.Errorf("runs %v, want [%d %d]", ids, h.Queued, h.Failed)
		}
	}},
	{name: "runs next page, API cursor", cmds: func(h *apitest.History) [][]string {
		c := api.EncodeCursor(storage.Cursor{ScheduledAt: ago(45), ID: h.Failed})
		return [][]string{{"runs", "-o", "json", "--before", c}}
	}, check: func(t *testing.T, h *apitest.History, out string) {
		if ids := jsonIDs(t, out); len(ids) != 1 || ids[0] != h.Succeeded {
			t.Errorf("runs %v, want [%d]", ids, h.Succeeded)
		}
	}},
	{name: "runs bad status", cmds: one("runs", "--status", "' OR 1=1 --"), code: 2, stderr: []string{"tock: --status: ", "is not a run status"}},
	{name: "runs bad since", cmds: one("runs", "--since", "yesterday"), code: 2, stderr: []string{"tock: --since: "}},
	{name: "runs bad before", cmds: one("runs", "--before", "yesterday"), code: 2, stderr: []string{"tock: --before: not a cursor"}},
	{name: "runs bad before time", cmds: one("runs", "--before", "yesterday,4"), code: 2, stderr: []string{"tock: --before: time"}},
	{name: "runs limit 0", cmds: one("runs", "--limit", "0"), code: 2, stderr: []string{"tock: --limit: "}},
	{name: "runs limit too large", cmds: one("runs", "--limit", "1001"), code: 2, stderr: []string{"tock: --limit: "}},
	{name: "runs show", cmds: func(h *apitest.History) [][]string { return [][]string{{"runs", "show", id(h.Failed)}} },
		stdout: []string{"status     failed", "exit code  3", "--- attempt 1 on node-a, epoch 1: failed, exit 3", "error: exit status 3", "output:\ndisk full\n"}},
	{name: "runs show json", cmds: func(h *apitest.History) [][]string {
		return [][]string{{"runs", "show", id(h.Succeeded), "-o", "json"}}
	},
		check: func(t *testing.T, h *apitest.History, out string) {
			var r struct {
				ID       int64          `json:"id"`
				Status   string         `json:"status"`
				Attempts []jobs.Attempt `json:"attempts"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			if r.ID != h.Succeeded || r.Status != "succeeded" || len(r.Attempts) != 1 || r.Attempts[0].Output != apitest.ScriptOutput ||
				r.Attempts[0].Epoch != 1 {
				t.Errorf("run = %+v", r)
			}
		}},
	{name: "runs show not found", cmds: one("runs", "show", "999"), code: 1, stderr: []string{"tock: run 999 not found\n"}},
	{name: "runs logs", cmds: func(h *apitest.History) [][]string { return [][]string{{"runs", "logs", id(h.Failed)}} },
		stdout: []string{"disk full\n"}, stderr: []string{"-- attempt 1 of run ", " failed (exit 3): exit status 3\n"}},
	{name: "runs logs follow ended", cmds: func(h *apitest.History) [][]string { return [][]string{{"runs", "logs", "-f", id(h.Failed)}} },
		stdout: []string{"disk full\n"}, stderr: []string{" failed (exit 3): exit status 3\n"}},
	{name: "runs logs running", cmds: func(h *apitest.History) [][]string { return [][]string{{"runs", "logs", id(h.Running)}} },
		stderr: []string{"-- attempt 1 of run ", " is running (-f follows it)\n"}},
	{name: "runs logs not found", cmds: one("runs", "logs", "999"), code: 1, stderr: []string{"tock: run 999 not found\n"}},
	{name: "runs logs no such attempt", cmds: func(h *apitest.History) [][]string {
		return [][]string{{"runs", "logs", "--attempt", "4", id(h.Failed)}}
	},
		code: 1, stderr: []string{" has no attempt 4 (it has 1)\n"}},
	{name: "runs show not a number", cmds: one("runs", "show", "abc"), code: 2, stderr: []string{`tock: run id "abc": want a number`}},
	{name: "trigger", cmds: func(*apitest.History) [][]string {
		return [][]string{{"trigger", "backup"}, {"runs", "--trigger", "manual"}}
	}, stdout: []string{"backup", "manual", "scheduled", "2026-11-28 12:00:00.000"}},
	{name: "trigger prints the run", cmds: one("trigger", "report"), stdout: []string{"triggered report: run "}},
	{name: "trigger unknown job", cmds: one("trigger", "nosuch"), code: 1, stderr: []string{`tock: job "nosuch" is not defined in `}, stderrByMode: true},
	{name: "trigger bad job name", cmds: one("trigger", "No Such"), code: 2, stderr: []string{`tock: JOB: "No Such" is not a job name`}},
	{name: "pause", cmds: func(*apitest.History) [][]string {
		return [][]string{{"pause", "backup"}, {"jobs", "-o", "json"}}
	}, check: func(t *testing.T, _ *apitest.History, out string) {
		if js := decodeObjects(t, out); js[0]["name"] != "backup" || js[0]["paused"] != true {
			t.Errorf("after pause: %v", js[0])
		}
	}},
	{name: "pause prints", cmds: one("pause", "backup"), stdout: []string{"paused backup\n"}},
	{name: "resume", cmds: func(*apitest.History) [][]string {
		return [][]string{{"pause", "report"}, {"resume", "report"}}
	}, stdout: []string{"resumed report\n"}},
	{name: "resume a job the config pauses", cmds: one("resume", "frozen"), stdout: []string{"resumed frozen\n"}, stderr: []string{"note: frozen stays paused"}},
	{name: "pause unknown job", cmds: one("pause", "nosuch"), code: 1, stderr: []string{`tock: job "nosuch" is not defined in `}, stderrByMode: true},
	{name: "cancel queued", cmds: func(h *apitest.History) [][]string { return [][]string{{"cancel", id(h.Queued)}} },
		check: func(t *testing.T, h *apitest.History, out string) {
			if out != "run "+id(h.Queued)+" canceled\n" {
				t.Errorf("stdout %q", out)
			}
		}},
	{name: "cancel running", cmds: func(h *apitest.History) [][]string { return [][]string{{"cancel", id(h.Running)}} },
		stdout: []string{"cancel requested for run ", "(running on node-a)"}},
	{name: "cancel finished", cmds: func(h *apitest.History) [][]string { return [][]string{{"cancel", id(h.Succeeded)}} },
		code: 1, stderr: []string{"already finished (succeeded)"}},
	{name: "cancel not found", cmds: one("cancel", "999"), code: 1, stderr: []string{"tock: run 999 not found\n"}},
	{name: "cancel not a number", cmds: one("cancel", "x"), code: 2, stderr: []string{`tock: run id "x": want a number`}},
	{name: "cancel not positive", cmds: one("cancel", "0"), code: 2, stderr: []string{"tock: RUN_ID: "}},
	{name: "cluster", cmds: one("cluster"), stdout: []string{"leader node-a, epoch 1\n", "alive, leader", "alive, CONFIG DIFFERS FROM LEADER", "gone"}},
	{name: "cluster json", cmds: one("cluster", "-o", "json"), check: func(t *testing.T, h *apitest.History, out string) {
		var c api.Cluster
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatal(err)
		}
		if c.Leader != "node-a" || c.Epoch != 1 || len(c.Nodes) != 3 || c.LeaderDigest != h.Config.Digest || !c.Nodes[1].DigestMismatch {
			t.Errorf("cluster = %+v", c)
		}
	}},
	{name: "bad output format", cmds: one("jobs", "-o", "yaml"), code: 2, stderr: []string{"tock: -o: want table or json"}},
}

// TestCLIModesAgree runs each command line against --store and against
// --server over identical histories: same exit code, same output.
func TestCLIModesAgree(t *testing.T) {
	clearEnv(t)
	for _, tc := range cliCases {
		t.Run(tc.name, func(t *testing.T) {
			// The cases run together, in the environment clearEnv set for
			// all of them; no other test runs until they end (this test is
			// not parallel), and each case has its own histories.
			t.Parallel()
			got := map[string]result{}
			for _, m := range modes {
				t.Run(m.name, func(t *testing.T) {
					flags, h := m.setup(t)
					cmds := tc.cmds(h)
					var r result
					for i, c := range cmds {
						r = cli(append(c, flags...)...)
						if i < len(cmds)-1 && r.code != 0 {
							t.Fatalf("%v: exit %d: %s", c, r.code, r.stderr)
						}
					}
					got[m.name] = r
					if r.code != tc.code {
						t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
					}
					for _, s := range tc.stdout {
						if !strings.Contains(r.stdout, s) {
							t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
						}
					}
					for _, s := range tc.stderr {
						if !strings.Contains(r.stderr, s) {
							t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
						}
					}
					if tc.code != 0 && r.stdout != "" {
						t.Errorf("failed with stdout %q", r.stdout)
					}
					if tc.check != nil {
						tc.check(t, h, r.stdout)
					}
				})
			}
			s, h := got["store"], got["server"]
			if s.stdout != h.stdout {
				t.Errorf("stdout differs:\n--store:\n%s\n--server:\n%s", s.stdout, h.stdout)
			}
			if !tc.stderrByMode && s.stderr != h.stderr {
				t.Errorf("stderr differs:\n--store:  %q\n--server: %q", s.stderr, h.stderr)
			}
		})
	}
}

// dataCommands are the subcommands that ask a backend.
var dataCommands = [][]string{
	{"jobs"}, {"runs"}, {"runs", "show", "1"}, {"runs", "logs", "1"}, {"trigger", "backup"}, {"pause", "backup"}, {"resume", "backup"}, {"cancel", "1"}, {"cluster"}, {"audit"},
}

// TestCLIServerAuth: every subcommand against a replica that guards reads
// too: refused without a token or with a wrong one, and the read-only token
// cannot change anything.
func TestCLIServerAuth(t *testing.T) {
	clearEnv(t)
	h := apitest.NewHistory(t)
	srv := serveAPI(t, h, api.Auth{Token: testToken, ReadToken: "read-only"})
	for _, c := range dataCommands {
		write := c[0] == "trigger" || c[0] == "pause" || c[0] == "resume" || c[0] == "cancel"
		name := strings.Join(c, " ")
		t.Run(name, func(t *testing.T) {
			for _, tok := range []string{"", "wrong"} {
				r := cli(append(c, "--server", srv.URL, "--token", tok)...)
				if r.code != 1 || !strings.Contains(r.stderr, "tock: unauthorized: pass --token or TOCK_TOKEN") || r.stdout != "" {
					t.Errorf("token %q: exit %d\nstdout: %s\nstderr: %s", tok, r.code, r.stdout, r.stderr)
				}
				if tok != "" && strings.Contains(r.stderr, tok) {
					t.Errorf("the error shows the token: %s", r.stderr)
				}
			}
			r := cli(append(c, "--server", srv.URL, "--token", "read-only")...)
			if write && (r.code != 1 || !strings.Contains(r.stderr, "tock: forbidden: the read-only token cannot change anything")) {
				t.Errorf("read-only token: exit %d, stderr %s", r.code, r.stderr)
			}
			if !write && r.code != 0 {
				t.Errorf("read-only token: exit %d, stderr %s", r.code, r.stderr)
			}
		})
	}
}

// TestCLIServerFromEnv: TOCK_SERVER and TOCK_TOKEN stand in for the flags.
func TestCLIServerFromEnv(t *testing.T) {
	clearEnv(t)
	h := apitest.NewHistory(t)
	srv := serveAPI(t, h, api.Auth{Token: testToken})
	t.Setenv("TOCK_SERVER", srv.URL+"/api/v1")
	t.Setenv("TOCK_TOKEN", testToken)
	if r := cli("trigger", "backup"); r.code != 0 || !strings.HasPrefix(r.stdout, "triggered backup: run ") {
		t.Errorf("trigger: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The flag wins over the environment.
	if r := cli("trigger", "backup", "--token", "wrong"); r.code != 1 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("trigger with a wrong --token: exit %d\n%s", r.code, r.stderr)
	}
}

// TestCLIHelpHidesSecrets: --help shows no token or server from the
// environment.
func TestCLIHelpHidesSecrets(t *testing.T) {
	clearEnv(t)
	t.Setenv("TOCK_TOKEN", "very-secret-token")
	t.Setenv("TOCK_SERVER", "http://ops:hunter2@tock-1:8080")
	for _, args := range [][]string{{"--help"}, {"runs", "--help"}, {"trigger", "--help"}} {
		r := cli(args...)
		if r.code != 0 || !strings.Contains(r.stdout, "--token") || !strings.Contains(r.stdout, "--server") {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stdout)
		}
		if strings.Contains(r.stdout, "very-secret-token") || strings.Contains(r.stdout, "hunter2") {
			t.Errorf("%v prints a secret:\n%s", args, r.stdout)
		}
	}
}

// TestCLIServerErrors: usage mistakes exit 2; an unreachable replica exits 1
// and says which.
func TestCLIServerErrors(t *testing.T) {
	clearEnv(t)
	h := apitest.NewHistory(t)
	srv := serveAPI(t, h, api.Auth{})
	gone := httptest.NewServer(nil)
	gone.Close()
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"server and store", []string{"runs", "--server", srv.URL, "--store", "sqlite:x.db"}, 2, "tock: --server and --store exclude each other"},
		{"not a URL", []string{"runs", "--server", "tock-1:8080"}, 2, "tock: --server: "},
		{"credentials in the URL", []string{"runs", "--server", "http://ops:hunter2@tock-1:8080"}, 2, "tock: --server: "},
		{"unreachable", []string{"cluster", "--server", gone.URL}, 1, "tock: calling GET /api/v1/cluster on " + gone.URL},
		{"not tock", []string{"jobs", "--server", srv.URL + "/elsewhere"}, 1, "not with tock's API"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, want %d; stderr %q lacks %q", r.code, tc.code, r.stderr, tc.stderr)
			}
			if strings.Contains(r.stderr, "hunter2") {
				t.Errorf("stderr shows the password: %s", r.stderr)
			}
		})
	}
}

// TestCLIStoreWithoutConfig: at the store, the job commands check the job
// against --config; without one they say so, and the run commands still
// work.
func TestCLIStoreWithoutConfig(t *testing.T) {
	clearEnv(t)
	flags, h := storeFixture(t)
	flags[3] = filepath.Join(t.TempDir(), "missing.yaml")
	for _, c := range [][]string{{"trigger", "backup"}, {"pause", "backup"}, {"jobs"}} {
		r := cli(append(c, flags...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "missing.yaml") || !strings.Contains(r.stderr, "or ask a running node with --server") {
			t.Errorf("%v: exit %d, stderr %s", c, r.code, r.stderr)
		}
	}
	if r := cli(append([]string{"runs", "show", id(h.Failed)}, flags...)...); r.code != 0 {
		t.Errorf("runs show: exit %d, stderr %s", r.code, r.stderr)
	}
}
