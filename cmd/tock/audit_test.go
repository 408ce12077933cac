package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tock-sched/tock/storage"
)

// TestCLIAudit: trigger, pause, resume, cancel, backfill and cancel
// --backfill through the CLI each leave an audit row that `tock audit`
// shows, newest first, in both modes: in --store mode the actor is
// cli:<user>@<host> (source cli), in --server mode the token's name
// (source api).
func TestCLIAudit(t *testing.T) {
	clearEnv(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			flags, h := m.setup(t)
			run := func(args ...string) result {
				t.Helper()
				r := cli(append(args, flags...)...)
				if r.code != 0 {
					t.Fatalf("%v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
				}
				return r
			}
			run("trigger", "backup")
			run("pause", "backup")
			run("resume", "backup")
			run("cancel", id(h.Queued))
			run("backfill", "backup", "--from", "1h", "--to", "30m")
			run("cancel", "--backfill", "1")

			var rows []storage.AuditEntry
			if err := json.Unmarshal([]byte(run("audit", "-o", "json").stdout), &rows); err != nil {
				t.Fatal(err)
			}
			actor, source := cliActor(), storage.SourceCLI
			if m.name == "server" {
				actor, source = "token", storage.SourceAPI
			}
			want := []struct{ action, target string }{
				{storage.ActionCancelBackfill, "backfill/1"},
				{storage.ActionBackfill, "job/backup"},
				{storage.ActionCancel, "run/" + id(h.Queued)},
				{storage.ActionResume, "job/backup"},
				{storage.ActionPause, "job/backup"},
				{storage.ActionTrigger, "job/backup"},
			}
			if len(rows) != len(want) {
				t.Fatalf("audit = %+v, want %d rows", rows, len(want))
			}
			for i, w := range want {
				if r := rows[i]; r.Actor != actor || r.Source != source || r.Action != w.action || r.Target != w.target {
					t.Errorf("row %d = %+v, want %s %s by %s from %s", i, r, w.action, w.target, actor, source)
				}
			}
			if !strings.HasPrefix(actor, "cli:") && m.name == "store" {
				t.Errorf("store-mode actor %q", actor)
			}

			table := run("audit", "--limit", "2")
			if dataLines(table.stdout) != 2 || !strings.Contains(table.stdout, "cancel_backfill") || !strings.Contains(table.stdout, actor) {
				t.Errorf("audit --limit 2 printed:\n%s", table.stdout)
			}
			more := fmt.Sprintf("more: --before %d", rows[1].ID)
			if !strings.Contains(table.stderr, more) {
				t.Errorf("stderr %q lacks %q", table.stderr, more)
			}
			next := run("audit", "--limit", "2", "--before", fmt.Sprint(rows[1].ID))
			if !strings.Contains(next.stdout, "run/"+id(h.Queued)) || !strings.Contains(next.stdout, "resume") {
				t.Errorf("second page:\n%s", next.stdout)
			}
			if r := cli(append([]string{"audit", "--limit", "0"}, flags...)...); r.code != 2 || !strings.Contains(r.stderr, "--limit") {
				t.Errorf("--limit 0: exit %d %s", r.code, r.stderr)
			}
			if r := cli(append([]string{"audit", "--since", "yesterday"}, flags...)...); r.code == 0 || !strings.Contains(r.stderr, "since") {
				t.Errorf("--since yesterday: exit %d %s", r.code, r.stderr)
			}
		})
	}
}

// TestRunTokenFlags: a bad --api-token-file or token combination stops
// `tock run` before it opens anything, naming the flag and line.
func TestRunTokenFlags(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	bad := dir + "/tokens"
	if err := os.WriteFile(bad, []byte("alice:s1:operate\nbob:s2:admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := dir + "/read"
	if err := os.WriteFile(readOnly, []byte("viewer:s1:read\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--api-token-file", dir + "/missing"}, "tock: --api-token-file: open"},
		{[]string{"--api-token-file", bad}, `tock: --api-token-file: ` + bad + `:2: role "admin"`},
		{[]string{"--api-token-file", readOnly}, "read tokens need an operate token"},
		{[]string{"--api-token", "alice:s1", "--api-token-file", bad[:len(bad)-6] + "/read", "--api-read-token", "s1"}, "must differ"},
	} {
		r := cli(append([]string{"run", "--store", "sqlite:" + dir + "/never.db"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if _, err := os.Stat(dir + "/never.db"); err == nil {
		t.Error("tock run created the store before refusing its token flags")
	}
}
