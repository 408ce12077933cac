package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/storage"
)

// TestAuditAPI: every mutating call records a row whose actor is the
// token's name and source api; a read token is refused and records
// nothing; GET /audit pages newest first.
func TestAuditAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	auth := Auth{Token: "legacy-secret", Tokens: []NamedToken{
		{Name: "alice", Secret: "alice-secret", Access: AccessWrite},
		{Name: "viewer", Secret: "viewer-secret", Access: AccessRead},
	}}
	srv := f.server(auth)
	post := func(token, path, body string, want int) {
		t.Helper()
		var r *strings.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		var resp *http.Response
		if r != nil {
			resp = do(t, "POST", srv.URL+"/api/v1"+path, token, r, nil)
		} else {
			resp = do(t, "POST", srv.URL+"/api/v1"+path, token, nil, nil)
		}
		if resp.StatusCode != want {
			t.Fatalf("POST %s with %q: %d, want %d", path, token, resp.StatusCode, want)
		}
	}
	// The read token may not change anything, and its attempts leave no row.
	post("viewer-secret", "/jobs/backup/trigger", "{}", http.StatusForbidden)
	post("viewer-secret", "/jobs/backup/pause", "", http.StatusForbidden)
	post("", "/jobs/backup/pause", "", http.StatusUnauthorized)

	var run struct{ ID int64 }
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/trigger", "alice-secret", strings.NewReader(`{}`), &run); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger: %d", resp.StatusCode)
	}
	post("alice-secret", "/jobs/backup/pause", "", http.StatusOK)
	post("legacy-secret", "/jobs/backup/resume", "", http.StatusOK)
	post("alice-secret", fmt.Sprintf("/runs/%d/cancel", f.queued), "", http.StatusOK)
	var b Backfill
	body := `{"from": "` + t0.Add(-time.Hour).Format(time.RFC3339) + `", "to": "30m"}`
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/backfill", "alice-secret", strings.NewReader(body), &b); resp.StatusCode != http.StatusCreated {
		t.Fatalf("backfill: %d", resp.StatusCode)
	}
	// A dry run changes nothing and records nothing.
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/backfill", "alice-secret", strings.NewReader(strings.Replace(body, "}", `, "dry_run": true}`, 1)), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("dry run: %d", resp.StatusCode)
	}
	post("alice-secret", fmt.Sprintf("/backfills/%d/cancel", b.ID), "", http.StatusOK)
	// A refused cancel (the run is already canceled) records nothing.
	post("alice-secret", fmt.Sprintf("/runs/%d/cancel", f.queued), "", http.StatusConflict)

	var page AuditPage
	if resp := do(t, "GET", srv.URL+"/api/v1/audit", "viewer-secret", nil, &page); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /audit: %d", resp.StatusCode)
	}
	want := []struct{ actor, action, target string }{
		{"alice", storage.ActionCancelBackfill, fmt.Sprintf("backfill/%d", b.ID)},
		{"alice", storage.ActionBackfill, "job/backup"},
		{"alice", storage.ActionCancel, fmt.Sprintf("run/%d", f.queued)},
		{"token", storage.ActionResume, "job/backup"},
		{"alice", storage.ActionPause, "job/backup"},
		{"alice", storage.ActionTrigger, "job/backup"},
	}
	if len(page.Entries) != len(want) || page.NextCursor != "" {
		t.Fatalf("audit = %+v, want %d rows and no next page", page, len(want))
	}
	for i, w := range want {
		e := page.Entries[i]
		if e.Actor != w.actor || e.Source != storage.SourceAPI || e.Action != w.action || e.Target != w.target {
			t.Errorf("row %d = %+v, want %+v from api", i, e, w)
		}
	}
	if !strings.Contains(page.Entries[5].Detail, fmt.Sprintf(`"run":%d`, run.ID)) {
		t.Errorf("trigger detail %q does not name run %d", page.Entries[5].Detail, run.ID)
	}

	// Paging: two rows a page, by next_cursor.
	var seen []int64
	cursor := ""
	for range 10 {
		var p AuditPage
		u := srv.URL + "/api/v1/audit?limit=2"
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		if resp := do(t, "GET", u, "viewer-secret", nil, &p); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
		for _, e := range p.Entries {
			seen = append(seen, e.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != len(want) || seen[0] != page.Entries[0].ID || seen[len(seen)-1] != page.Entries[len(want)-1].ID {
		t.Errorf("paged ids %v, want those of %+v", seen, page.Entries)
	}
	var since AuditPage
	if do(t, "GET", srv.URL+"/api/v1/audit?since=2099-01-01T00:00:00Z", "viewer-secret", nil, &since); len(since.Entries) != 0 {
		t.Errorf("since 2099: %+v", since)
	}

	for _, q := range []struct{ query, param string }{
		{"limit=0", "limit"}, {"limit=1001", "limit"}, {"cursor=x", "cursor"}, {"since=yesterday", "since"}, {"job=x", "job"},
	} {
		var e ErrorBody
		resp := do(t, "GET", srv.URL+"/api/v1/audit?"+q.query, "viewer-secret", nil, &e)
		if resp.StatusCode != http.StatusBadRequest || e.Param != q.param {
			t.Errorf("GET /audit?%s: %d %+v, want 400 naming %s", q.query, resp.StatusCode, e, q.param)
		}
	}
	if resp := do(t, "GET", srv.URL+"/api/v1/audit", "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /audit without token: %d, want 401", resp.StatusCode)
	}
}

// TestAuditAnonymous: with the API open, the actor is "anonymous".
func TestAuditAnonymous(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	if resp := do(t, "POST", srv.URL+"/api/v1/jobs/backup/pause", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("pause: %d", resp.StatusCode)
	}
	var p AuditPage
	do(t, "GET", srv.URL+"/api/v1/audit", "", nil, &p)
	if len(p.Entries) != 1 || p.Entries[0].Actor != AnonymousActor || p.Entries[0].Action != storage.ActionPause {
		t.Fatalf("audit = %+v", p)
	}
}

func TestParseToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, name, secret string }{
		{"alice:s3cret", "alice", "s3cret"},
		{"s3cret", DefaultTokenName, "s3cret"},
		{"alice:a:b", "alice", "a:b"},
		{":s3cret", DefaultTokenName, ":s3cret"},
	} {
		if n, s := ParseToken(tc.in); n != tc.name || s != tc.secret {
			t.Errorf("ParseToken(%q) = %q, %q; want %q, %q", tc.in, n, s, tc.name, tc.secret)
		}
	}
}

func TestParseTokenFile(t *testing.T) {
	t.Parallel()
	got, err := ParseTokenFile("tokens", []byte("# ops\nalice:s1:operate\n\nbob:s:2:read\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []NamedToken{{"alice", "s1", AccessWrite}, {"bob", "s:2", AccessRead}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ParseTokenFile = %+v, want %+v", got, want)
	}
	for _, tc := range []struct{ data, want string }{
		{"alice:s1:admin\n", `tokens:1: role "admin"`},
		{"# only\nalice\n", "tokens:2: want name:secret:role"},
		{"alice:operate\n", "tokens:1: want name:secret:role"},
		{"\n", "tokens: no tokens"},
	} {
		if _, err := ParseTokenFile("tokens", []byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTokenFile(%q) = %v, want %q", tc.data, err, tc.want)
		}
	}
}

func TestAuthNamedTokens(t *testing.T) {
	t.Parallel()
	a := Auth{Token: "w", TokenName: "ops", Tokens: []NamedToken{{"alice", "a", AccessWrite}, {"viewer", "v", AccessRead}}}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]string{"w": "ops", "a": "alice", "v": "viewer", "x": ""} {
		if name, _ := a.Identify(tok); name != want {
			t.Errorf("Identify(%q) = %q, want %q", tok, name, want)
		}
	}
	if a.Need(false) != AccessRead || a.Need(true) != AccessWrite {
		t.Errorf("Need = %v, %v", a.Need(false), a.Need(true))
	}
	for _, bad := range []Auth{
		{Tokens: []NamedToken{{"viewer", "v", AccessRead}}},
		{Token: "w", Tokens: []NamedToken{{"token", "x", AccessWrite}}},
		{Token: "w", Tokens: []NamedToken{{"alice", "w", AccessWrite}}},
		{Token: "w", Tokens: []NamedToken{{"a b", "x", AccessWrite}}},
	} {
		if err := bad.Check(); err == nil {
			t.Errorf("%+v.Check() = nil, want an error", bad)
		}
	}
}
