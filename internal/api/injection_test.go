package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tock-sched/tock/storage"
)

// injectionCorpus is what an attacker or a fuzzer sends to filters and path
// parameters.
var injectionCorpus = []string{
	"'", `"`, "`", "''", `\`, `\'`, "' OR 1=1 --", `" OR ""="`, "' OR '1'='1", "1 OR 1=1",
	"backup' --", "backup'; DROP TABLE runs; --", "; DROP TABLE runs", "1; DELETE FROM runs",
	"' UNION SELECT id, job, output FROM attempts --", "%", "%%", "_", "backup%", "b_ckup",
	"%00", "\x00", "backup\x00' OR 1=1", "%27%20OR%201%3D1", "0x27", "char(39)",
	"../", "../../etc/passwd", "..%2F..%2F", "/", "?", "#", "&", "=",
	"ünïcödé", "名前", "🙂", "\u202e", "\ufeff", "\xff\xfe", "a\nb", "a\r\nb", "\t",
	strings.Repeat("a", 10000), strings.Repeat("'", 10000), strings.Repeat("9", 10000),
	"<script>alert(1)</script>", "${jndi:ldap://x}", "{{7*7}}",
	"-1", "0", "9223372036854775808", "1e9", "NaN", "null", "true", "[]", "{}",
	"2026-13-45T99:99:99Z", "24h' OR 1=1", "1d; DROP TABLE runs",
	// Valid-looking values that must simply match nothing.
	"backup--", "drop.table.runs", "x_y.z-", "zzz",
}

// TestInjectionCorpus sends the corpus to every filter of GET /runs and to
// every path parameter: each answer is a 400, an empty result or a 404 —
// never a 500 or a database error — and the history is intact afterwards.
func TestInjectionCorpus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	ctx := context.Background()
	before, err := f.store.ListRuns(ctx, storage.RunFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, u string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, u, nil)
		if err != nil {
			t.Fatalf("building %s %q: %v", method, u, err)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("%s %q: %v", method, u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	leaks := func(b []byte) bool {
		s := strings.ToLower(string(b))
		return strings.Contains(s, "sql") || strings.Contains(s, "syntax") || strings.Contains(s, "near \"")
	}

	for _, param := range RunQueryParams {
		for _, v := range injectionCorpus {
			status, body := send("GET", srv.URL+"/api/v1/runs?"+url.Values{param: {v}}.Encode())
			switch status {
			case http.StatusBadRequest:
				var e ErrorBody
				if json.Unmarshal(body, &e) != nil || e.Param != param {
					t.Errorf("%s=%.40q: 400 not naming the parameter: %.200s", param, v, body)
				}
			case http.StatusOK:
				var p RunPage
				if err := json.Unmarshal(body, &p); err != nil {
					t.Errorf("%s=%.40q: %v", param, v, err)
				}
				// A value that parses is a bound filter: every row it
				// returns matches it as parsed (until=0 means "before
				// now"), and job, status and trigger values from the
				// corpus match nothing.
				flt, err := ParseRunQuery(url.Values{param: {v}}, f.svc.Now())
				if err != nil {
					t.Errorf("%s=%.40q: 200 for a value ParseRunQuery refuses: %v", param, v, err)
				}
				for _, r := range p.Runs {
					if (flt.Job != "" && r.Job != flt.Job) || (flt.Status != "" && r.Status != flt.Status) ||
						(flt.Trigger != "" && r.Trigger != flt.Trigger) || (!flt.Since.IsZero() && r.ScheduledAt.Before(flt.Since)) ||
						(!flt.Until.IsZero() && !r.ScheduledAt.Before(flt.Until)) {
						t.Errorf("%s=%.40q: returned run %d that does not match", param, v, r.ID)
					}
				}
				if (param == "job" || param == "status" || param == "trigger" || param == "cursor") && len(p.Runs) != 0 {
					t.Errorf("%s=%.40q: returned %d runs", param, v, len(p.Runs))
				}
			default:
				t.Errorf("%s=%.40q: status %d: %.200s", param, v, status, body)
			}
			if leaks(body) {
				t.Errorf("%s=%.40q: body leaks database text: %.200s", param, v, body)
			}
		}
	}

	paths := []struct{ method, pattern string }{
		{"GET", "/api/v1/jobs/%s"},
		{"POST", "/api/v1/jobs/%s/trigger"},
		{"POST", "/api/v1/jobs/%s/pause"},
		{"POST", "/api/v1/jobs/%s/resume"},
		{"GET", "/api/v1/runs/%s"},
		{"POST", "/api/v1/runs/%s/cancel"},
	}
	for _, p := range paths {
		for _, v := range injectionCorpus {
			u := srv.URL + strings.Replace(p.pattern, "%s", url.PathEscape(v), 1)
			status, body := send(p.method, u)
			switch status {
			case http.StatusBadRequest, http.StatusNotFound:
			case http.StatusMovedPermanently, http.StatusTemporaryRedirect:
				// The mux cleans a path whose parameter decodes to
				// dot segments before any handler sees it.
				if !strings.Contains(v, "..") && !strings.Contains(v, "%2F") {
					t.Errorf("%s %.60q: unexpected redirect", p.method, u)
				}
			default:
				t.Errorf("%s %.60q: status %d: %.200s", p.method, u, status, body)
			}
			if leaks(body) {
				t.Errorf("%s %.60q: body leaks database text: %.200s", p.method, u, body)
			}
		}
	}

	after, err := f.store.ListRuns(ctx, storage.RunFilter{Limit: 1000})
	if err != nil {
		t.Fatalf("history unreadable after the corpus: %v", err)
	}
	if len(after) != len(before) {
		t.Errorf("history had %d runs, now %d", len(before), len(after))
	}
	states, err := f.store.JobStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for job, st := range states {
		if st.Paused {
			t.Errorf("job %q paused by the corpus", job)
		}
	}
}
