package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/storage"
)

var auditCases = []testCase{
	{"AuditEveryAction", testAuditEveryAction},
	{"AuditRefusedActionHasNoRow", testAuditRefused},
	{"AuditPaging", testAuditPaging},
	{"AuditPrune", testAuditPrune},
	{"AuditRecord", testAuditRecord},
}

func listAudit(t *testing.T, s storage.Store, f storage.AuditFilter) []storage.AuditEntry {
	t.Helper()
	got, err := s.ListAudit(t.Context(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	return got
}

// testAuditEveryAction: each audited method writes one row with the actor
// of its context, the action, its target and detail, at the store's clock;
// ListAudit returns them newest first.
func testAuditEveryAction(t *testing.T, s storage.Store) {
	_, _ = backfillSetup(t, s, "x")
	alice := storage.WithActor(t.Context(), storage.Actor{Name: "alice", Source: storage.SourceAPI})
	bob := storage.WithActor(t.Context(), storage.Actor{Name: "cli:bob@host", Source: storage.SourceCLI})
	before, err := s.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.TriggerRun(alice, storage.TriggerParams{Job: "x", At: t0.Add(time.Hour), Now: t0, Params: map[string]string{"day": "mon"}})
	if err != nil {
		t.Fatalf("TriggerRun: %v", err)
	}
	if err := s.SetPaused(bob, "x", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPaused(bob, "x", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestCancel(alice, run.ID, t0); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	from := t0.Add(-10 * time.Minute)
	ticks := minuteTicks(from, 3)
	bf, err := s.Backfill(alice, storage.BackfillParams{Job: "x", From: from, To: ticks[2], Ticks: ticks, MaxConcurrent: 1, Now: t0})
	if err != nil {
		t.Fatalf("Backfill: %v", err)
	}
	if _, err := s.CancelBackfill(bob, bf.ID, t0); err != nil {
		t.Fatalf("CancelBackfill: %v", err)
	}
	if _, err := s.Trigger(t.Context(), "x", t0); err != nil { // no actor
		t.Fatal(err)
	}
	after, err := s.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := listAudit(t, s, storage.AuditFilter{})
	want := []struct{ actor, source, action, target, detail string }{
		{"unknown", storage.SourceInternal, storage.ActionTrigger, "job/x", `"run":`},
		{"cli:bob@host", storage.SourceCLI, storage.ActionCancelBackfill, fmt.Sprintf("backfill/%d", bf.ID), "{}"},
		{"alice", storage.SourceAPI, storage.ActionBackfill, "job/x", fmt.Sprintf(`"backfill":%d`, bf.ID)},
		{"alice", storage.SourceAPI, storage.ActionCancel, fmt.Sprintf("run/%d", run.ID), `"status":"canceled"`},
		{"cli:bob@host", storage.SourceCLI, storage.ActionResume, "job/x", "{}"},
		{"cli:bob@host", storage.SourceCLI, storage.ActionPause, "job/x", "{}"},
		{"alice", storage.SourceAPI, storage.ActionTrigger, "job/x", fmt.Sprintf(`{"run":%d,"at":"%s","params":{"day":"mon"}}`, run.ID, t0.Add(time.Hour).Format(time.RFC3339Nano))},
	}
	if len(got) != len(want) {
		t.Fatalf("ListAudit = %d rows, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Actor != w.actor || g.Source != w.source || g.Action != w.action || g.Target != w.target || !strings.Contains(g.Detail, w.detail) {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
		if i > 0 && g.ID >= got[i-1].ID {
			t.Errorf("row %d id %d not below %d: not newest first", i, g.ID, got[i-1].ID)
		}
		// The store's clock, not the caller's t0 (years ahead).
		if g.At.Before(before.Add(-time.Second)) || g.At.After(after.Add(time.Second)) || g.At.Location() != time.UTC {
			t.Errorf("row %d at %s, want the store clock in [%s, %s]", i, g.At, before, after)
		}
	}
}

// testAuditRefused: an action the store refuses rolls back with its audit
// row: a cancel of a finished run, a backfill without a cursor.
func testAuditRefused(t *testing.T, s storage.Store) {
	ctx := storage.WithActor(t.Context(), storage.Actor{Name: "alice", Source: storage.SourceAPI})
	run, err := s.TriggerRun(ctx, storage.TriggerParams{Job: "x", At: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestCancel(ctx, run.ID, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestCancel(ctx, run.ID, t0); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second RequestCancel: %v, want ErrConflict", err)
	}
	if _, err := s.RequestCancel(ctx, run.ID+100, t0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("RequestCancel of no run: %v, want ErrNotFound", err)
	}
	if _, err := s.Backfill(ctx, storage.BackfillParams{Job: "nocursor", From: t0, To: t0, Ticks: []time.Time{t0}, Now: t0}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Backfill without cursor: %v, want ErrNotFound", err)
	}
	if _, err := s.CancelBackfill(ctx, 999, t0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("CancelBackfill of no backfill: %v, want ErrNotFound", err)
	}
	got := listAudit(t, s, storage.AuditFilter{})
	if len(got) != 2 || got[0].Action != storage.ActionCancel || got[1].Action != storage.ActionTrigger {
		t.Fatalf("ListAudit = %+v, want the cancel and the trigger only", got)
	}
}

// testAuditPaging: keyset pages by BeforeID cover every row once, newest
// first; Limit is bounded; Since filters on the store's clock.
func testAuditPaging(t *testing.T, s storage.Store) {
	ctx := storage.WithActor(t.Context(), storage.Actor{Name: "op", Source: storage.SourceCLI})
	const n = 25
	for i := range n {
		if err := s.SetPaused(ctx, fmt.Sprintf("j%02d", i), true); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	var cursor int64
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		page := listAudit(t, s, storage.AuditFilter{BeforeID: cursor, Limit: 10})
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seen = append(seen, e.Target)
			cursor = e.ID
		}
	}
	if len(seen) != n {
		t.Fatalf("pages held %d rows, want %d: %v", len(seen), n, seen)
	}
	for i, tg := range seen {
		if want := fmt.Sprintf("job/j%02d", n-1-i); tg != want {
			t.Fatalf("row %d is %s, want %s (newest first)", i, tg, want)
		}
	}
	if got := listAudit(t, s, storage.AuditFilter{}); len(got) != n {
		t.Fatalf("default limit: %d rows", len(got))
	}
	if got := listAudit(t, s, storage.AuditFilter{Limit: storage.MaxAuditLimit + 5}); len(got) != n {
		t.Fatalf("over-max limit: %d rows", len(got))
	}
	future, err := s.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := listAudit(t, s, storage.AuditFilter{Since: future.Add(time.Hour)}); len(got) != 0 {
		t.Fatalf("Since an hour ahead: %d rows", len(got))
	}
	if got := listAudit(t, s, storage.AuditFilter{Since: future.Add(-time.Hour), Limit: 3}); len(got) != 3 {
		t.Fatalf("Since an hour ago, limit 3: %d rows", len(got))
	}
}

// testAuditPrune: PruneAudit deletes rows older than its Before and keeps
// at most Keep, newest first; Prune of runs leaves the audit alone.
func testAuditPrune(t *testing.T, s storage.Store) {
	ctx := storage.WithActor(t.Context(), storage.Actor{Name: "op", Source: storage.SourceCLI})
	for i := range 5 {
		if err := s.SetPaused(ctx, fmt.Sprintf("j%d", i), true); err != nil {
			t.Fatal(err)
		}
	}
	now, err := s.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// A run prune by count (Before now) must not touch the audit trail.
	if _, err := s.Prune(t.Context(), storage.PruneParams{Before: now.Add(time.Hour), KeepPerJob: 1}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneAudit(t.Context(), storage.AuditPruneParams{Before: now.Add(-time.Hour)}); err != nil || n != 0 {
		t.Fatalf("PruneAudit before the rows = (%d, %v), want 0", n, err)
	}
	if got := listAudit(t, s, storage.AuditFilter{}); len(got) != 5 {
		t.Fatalf("after prunes before the rows: %d rows, want 5", len(got))
	}
	if n, err := s.PruneAudit(t.Context(), storage.AuditPruneParams{Keep: 2, Batch: 1}); err != nil || n != 3 {
		t.Fatalf("PruneAudit keep 2 = (%d, %v), want 3", n, err)
	}
	if got := listAudit(t, s, storage.AuditFilter{}); len(got) != 2 || got[0].Target != "job/j4" || got[1].Target != "job/j3" {
		t.Fatalf("after keep 2: %+v, want the newest two", got)
	}
	if n, err := s.PruneAudit(t.Context(), storage.AuditPruneParams{Before: now.Add(time.Hour)}); err != nil || n != 2 {
		t.Fatalf("PruneAudit past the rows = (%d, %v), want 2", n, err)
	}
	if got := listAudit(t, s, storage.AuditFilter{}); len(got) != 0 {
		t.Fatalf("after a prune past the rows: %+v, want none", got)
	}
}

// testAuditRecord: RecordAudit writes a row of its own with the actor of
// its context and the detail as JSON; a record without an action is refused.
func testAuditRecord(t *testing.T, s storage.Store) {
	ctx := storage.WithActor(t.Context(), storage.Actor{Name: "config:n1", Source: storage.SourceConfig})
	err := s.RecordAudit(ctx, storage.AuditRecord{Action: storage.ActionConfigReload, Target: "config/tock.yaml",
		Detail: map[string]any{"to": "abc", "added": 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAudit(ctx, storage.AuditRecord{Target: "config/tock.yaml"}); err == nil {
		t.Fatal("RecordAudit without an action: no error")
	}
	got := listAudit(t, s, storage.AuditFilter{})
	if len(got) != 1 {
		t.Fatalf("ListAudit = %+v, want one row", got)
	}
	e := got[0]
	if e.Actor != "config:n1" || e.Source != storage.SourceConfig || e.Action != storage.ActionConfigReload ||
		e.Target != "config/tock.yaml" || e.Detail != `{"added":2,"to":"abc"}` {
		t.Fatalf("row = %+v", e)
	}
}
