package browsertest

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/replica"
)

// TestAuditInBrowser logs in with a named token of --api-token-file,
// pauses and resumes a job from the jobs page, and finds both changes on
// /audit under the token's name, from the dashboard.
func TestAuditInBrowser(t *testing.T) {
	exe := chromiumPath(t)
	tock := startReplicaWith(t, formsConfig, func(o *replica.Options) {
		o.APITokens = []api.NamedToken{
			{Name: "alice", Secret: "alice-secret", Access: api.AccessWrite},
			{Name: "viewer", Secret: "viewer-secret", Access: api.AccessRead},
		}
	})
	b := startBrowser(t, exe, tock.url)

	b.open("/login?next=/")
	b.do(chromedp.SetValue(chromedp.CSS(`form.login input[name="token"]`), "alice-secret"))
	b.submit(`form.login button[type="submit"]`)
	b.submit(`#job-minutely button[name="pause"]`)
	b.submit(`#job-minutely button[name="resume"]`)

	b.open("/")
	b.submit(`nav a[href="/audit"]`)
	if p := b.location().Path; p != "/audit" {
		t.Fatalf("the Audit link led to %s", p)
	}
	rows := b.table("audit")
	if len(rows) != 3 {
		t.Fatalf("/audit rows %v, want the resume, the pause and the replica's config load", rows)
	}
	if r := rows[2]; r["Action"] != "config_load" || r["Actor"] != "config:tock-1" || r["Source"] != "config" || r["Target"] != "config/tock.yaml" {
		t.Errorf("oldest row = %v, want the config load of tock-1", r)
	}
	for i, want := range []string{"resume", "pause"} {
		r := rows[i]
		if r["Action"] != want || r["Actor"] != "alice" || r["Source"] != "dashboard" || r["Target"] != "job/minutely" {
			t.Errorf("row %d = %v, want %s of job/minutely by alice from the dashboard", i, r, want)
		}
	}
	b.screenshot("audit")
}
