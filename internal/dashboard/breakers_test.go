package dashboard

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
)

func TestClusterPageBreakers(t *testing.T) {
	t.Parallel()
	h := apitest.NewHistory(t)
	clk := clock.NewFake(apitest.Now)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := api.NewService(api.ServiceOptions{Store: h.Store, Config: func() *jobs.Config { return h.Config }, NodeID: "node-a",
		LeaseState: func() string { return api.LeaseLeader }, Clock: clk, Logger: log})
	for _, tc := range []struct {
		name     string
		breakers func() map[string]string
		// want appear in this order; absent do not appear.
		want, absent []string
	}{
		{"worker with breakers", func() map[string]string {
			return map[string]string{"https://c.example:443": "half-open", "http://b.example:80": "open", "http://a.example:80": "closed"}
		}, []string{"<h2>HTTP circuit breakers on this node</h2>", `id="breakers"`,
			`<code>http://a.example:80</code></td><td><span class="st st-succeeded">closed</span>`,
			`<code>http://b.example:80</code></td><td><span class="st st-failed">open</span>`,
			`<code>https://c.example:443</code></td><td><span class="st st-canceled">half-open</span>`,
		}, []string{"No http job has run"}},
		{"worker without http jobs", func() map[string]string { return map[string]string{} },
			[]string{"HTTP circuit breakers on this node", "No http job has run on this node yet."}, []string{`id="breakers"`}},
		{"no worker pool", nil, []string{"<h1>Cluster</h1>", "node-a"}, []string{"circuit breakers"}},
		{"target is escaped", func() map[string]string { return map[string]string{"http://<b>:80": "open"} },
			[]string{"<code>http://&lt;b&gt;:80</code>"}, []string{"<b>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Options{Service: svc, Clock: clk, Logger: log, Version: "test", Breakers: tc.breakers})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cluster", nil))
			body := rec.Body.String()
			if rec.Code != http.StatusOK {
				t.Fatalf("GET /cluster: %d\n%s", rec.Code, body)
			}
			at := 0
			for _, s := range tc.want {
				i := strings.Index(body[at:], s)
				if i < 0 {
					t.Fatalf("cluster page lacks %q after offset %d:\n%s", s, at, body)
				}
				at += i + len(s)
			}
			for _, s := range tc.absent {
				if strings.Contains(body, s) {
					t.Errorf("cluster page has %q", s)
				}
			}
		})
	}
}
