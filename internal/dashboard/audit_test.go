package dashboard

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/storage"
)

// login logs c in with token and returns a CSRF form token.
func (r *rig) login(c *http.Client, token string) string {
	r.t.Helper()
	tok := r.csrf(c, "/login")
	if status, _, _ := r.post(c, "/login", url.Values{"csrf": {tok}, "token": {token}, "next": {"/"}}); status != 303 {
		r.t.Fatalf("login with %q: %d", token, status)
	}
	return tok
}

// TestAuditPage: actions through the dashboard are recorded with the
// session's token name and source dashboard, and /audit lists them.
func TestAuditPage(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{Tokens: []api.NamedToken{
		{Name: "alice", Secret: "alice-secret", Access: api.AccessWrite},
		{Name: "bob", Secret: "bob-secret", Access: api.AccessWrite},
		{Name: "viewer", Secret: "viewer-secret", Access: api.AccessRead},
	}})
	alice, bob, viewer := r.c, newClient(), newClient()
	atok := r.login(alice, "alice-secret")
	btok := r.login(bob, "bob-secret")
	vtok := r.login(viewer, "viewer-secret")
	if status, _, _ := r.post(alice, "/jobs/report/pause", url.Values{"csrf": {atok}}); status != 303 {
		t.Fatalf("pause: %d", status)
	}
	if status, _, _ := r.post(bob, "/jobs/report/resume", url.Values{"csrf": {btok}}); status != 303 {
		t.Fatalf("resume: %d", status)
	}
	if status, _, _ := r.post(bob, fmt.Sprintf("/runs/%d/cancel", r.h.Queued), url.Values{"csrf": {btok}}); status != 303 {
		t.Fatalf("cancel: %d", status)
	}
	if status, _, _ := r.post(alice, "/jobs/backup/trigger", url.Values{"csrf": {atok}}); status != 303 {
		t.Fatalf("trigger: %d", status)
	}
	// The read-only session may not act, and leaves no row.
	if status, _, _ := r.post(viewer, "/jobs/backup/pause", url.Values{"csrf": {vtok}}); status != 403 {
		t.Fatalf("pause by the read-only session: %d", status)
	}
	rows, err := r.h.Store.ListAudit(context.Background(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ actor, action, target string }{
		{"alice", storage.ActionTrigger, "job/backup"},
		{"bob", storage.ActionCancel, fmt.Sprintf("run/%d", r.h.Queued)},
		{"bob", storage.ActionResume, "job/report"},
		{"alice", storage.ActionPause, "job/report"},
	}
	if len(rows) != len(want) {
		t.Fatalf("audit rows %+v, want %d", rows, len(want))
	}
	for i, w := range want {
		if e := rows[i]; e.Actor != w.actor || e.Source != storage.SourceDashboard || e.Action != w.action || e.Target != w.target {
			t.Errorf("row %d = %+v, want %+v from the dashboard", i, e, w)
		}
	}

	status, body, _ := r.get(viewer, "/audit")
	if status != 200 {
		t.Fatalf("/audit: %d", status)
	}
	wantContains(t, "/audit", body, `id="audit"`, `<td class="actor">alice</td>`, `<td class="actor">bob</td>`,
		`<a href="/jobs/report">job/report</a>`, fmt.Sprintf(`<a href="/runs/%d">run/%d</a>`, r.h.Queued, r.h.Queued),
		`<td class="action">pause</td>`, `aria-current="page">Audit</a>`, `<span class="user" title="your changes are recorded under this name (Audit)">viewer</span>`)
	// Rows are newest first: the trigger before the pause.
	if strings.Index(body, `<td class="action">trigger</td>`) > strings.Index(body, `<td class="action">pause</td>`) {
		t.Error("/audit is not newest first")
	}
	// Paging: two rows, then the older two.
	_, page1, _ := r.get(viewer, "/audit?limit=2")
	m := strings.Index(page1, `href="/audit?`)
	if m < 0 || strings.Contains(page1, `<td class="action">pause</td>`) {
		t.Fatalf("/audit?limit=2 has no older link or too many rows")
	}
	href := page1[m+6 : m+6+strings.Index(page1[m+6:], `"`)]
	_, page2, _ := r.get(viewer, strings.ReplaceAll(href, "&amp;", "&"))
	wantContains(t, "second page", page2, `<td class="action">pause</td>`, `<td class="action">resume</td>`, "« Newest")
	if status, body, _ := r.get(viewer, "/audit?since=yesterday"); status != 400 || !strings.Contains(body, "since") {
		t.Errorf("/audit?since=yesterday: %d", status)
	}
	if status, _, hdr := r.get(newClient(), "/audit"); status != 303 || !strings.HasPrefix(hdr.Get("Location"), "/login") {
		t.Errorf("/audit without a session: %d %v", status, hdr)
	}
}

// TestSessionNamesItsToken: a session cookie is bound to its token's
// name: swapping the name for another token's fails the MAC.
func TestSessionNamesItsToken(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{Tokens: []api.NamedToken{
		{Name: "alice", Secret: "alice-secret", Access: api.AccessWrite},
		{Name: "bob", Secret: "bob-secret", Access: api.AccessWrite},
	}})
	tok := r.login(r.c, "alice-secret")
	u, _ := url.Parse(r.srv.URL)
	var session *http.Cookie
	for _, c := range r.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			session = c
		}
	}
	parts := strings.Split(session.Value, ".")
	if len(parts) != 4 || parts[2] != base64.RawURLEncoding.EncodeToString([]byte("alice")) {
		t.Fatalf("session cookie %q", session.Value)
	}
	parts[2] = base64.RawURLEncoding.EncodeToString([]byte("bob"))
	forged := newClient()
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: strings.Join(parts, "."), Path: "/"}})
	for _, c := range r.c.Jar.Cookies(u) {
		if c.Name == csrfCookie {
			forged.Jar.SetCookies(u, []*http.Cookie{{Name: csrfCookie, Value: c.Value, Path: "/"}})
		}
	}
	if status, _, _ := r.post(forged, "/jobs/report/pause", url.Values{"csrf": {tok}}); status != 403 {
		t.Fatalf("pause with a renamed session: %d, want 403", status)
	}
	if rows, _ := r.h.Store.ListAudit(context.Background(), storage.AuditFilter{}); len(rows) != 0 {
		t.Fatalf("audit rows after a refused action: %+v", rows)
	}
}

// TestAuditAnonymousDashboard: an open dashboard records "anonymous".
func TestAuditAnonymousDashboard(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	tok := r.csrf(r.c, "/")
	if status, _, _ := r.post(r.c, "/jobs/report/pause", url.Values{"csrf": {tok}}); status != 303 {
		t.Fatalf("pause: %d", status)
	}
	_, body, _ := r.get(r.c, "/audit")
	wantContains(t, "/audit", body, `<td class="actor">anonymous</td>`, "<td>dashboard</td>")
}
