//go:build linux

package executor_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

// TestExecuteParamsEnv: params reach command and shell jobs as
// TOCK_PARAM_<NAME>, and only there: no value or name sets another
// variable (PATH, LD_PRELOAD, the job's env, tock's attempt variables).
func TestExecuteParamsEnv(t *testing.T) {
	t.Parallel()
	j := &jobs.Job{
		Name: "p",
		Env:  map[string]string{"JOB_VAR": "job"},
		Shell: `echo "day=$TOCK_PARAM_DAY"; echo "id=$TOCK_PARAM_CUSTOMER_ID"; echo "path=$PATH"; ` +
			`echo "preload=${LD_PRELOAD-unset}"; echo "job=$JOB_VAR"; echo "run=$TOCK_RUN_ID"; env | grep -c '^TOCK_PARAM_' || true`,
		Settings: &jobs.Settings{Timeout: 10 * time.Second},
	}
	params := map[string]string{
		"day":         "2026-01-01\nLD_PRELOAD=/evil.so",
		"customer_id": "7; PATH=/tmp",
		// Names a config and the leader refuse; the executor drops them
		// rather than build another variable from them.
		"PATH=x":     "y",
		"JOB_VAR":    "param",
		"LD_PRELOAD": "/evil.so",
	}
	res := executor.Execute(context.Background(), j, executor.Options{Params: params, Fence: jobs.Fence{Epoch: 1, RunID: 9, Attempt: 1}})
	if res.Status != jobs.StatusSucceeded {
		t.Fatalf("status %s: %s\n%s", res.Status, res.Error, res.Output)
	}
	out := res.Output
	for _, want := range []string{
		"day=2026-01-01\nLD_PRELOAD=/evil.so\n", // the newline stays inside the value
		"id=7; PATH=/tmp\n",
		"preload=unset\n",
		"job=job\n",
		"run=9\n",
		"\n4\n", // DAY, CUSTOMER_ID, JOB_VAR, LD_PRELOAD: each only as TOCK_PARAM_
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "path=/tmp") || strings.Contains(out, "path=x") {
		t.Errorf("a param changed PATH:\n%s", out)
	}
}

// TestExecuteParamsHTTP: an http job gets its params as a JSON body when
// it is a POST, PUT or PATCH without a body of its own, else as query
// parameters; no params change nothing.
func TestExecuteParamsHTTP(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, query, ctype, body string
	}
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), string(b)})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	params := map[string]string{"day": "2026-01-01", "q": "a&b=c"}
	tests := []struct {
		name   string
		spec   jobs.HTTPSpec
		params map[string]string
		want   seen
	}{
		{"POST without body: JSON", jobs.HTTPSpec{Method: "POST", URL: srv.URL + "/hook?x=1"}, params,
			seen{"POST", "x=1", "application/json", `{"day":"2026-01-01","q":"a\u0026b=c"}`}},
		{"PATCH without body: JSON", jobs.HTTPSpec{Method: "PATCH", URL: srv.URL}, params,
			seen{"PATCH", "", "application/json", `{"day":"2026-01-01","q":"a\u0026b=c"}`}},
		{"POST with a body: query", jobs.HTTPSpec{Method: "POST", URL: srv.URL + "/hook?day=old&x=1", Body: "fixed",
			Headers: map[string]string{"Content-Type": "text/plain"}}, params,
			seen{"POST", "day=2026-01-01&q=a%26b%3Dc&x=1", "text/plain", "fixed"}},
		{"GET: query", jobs.HTTPSpec{Method: "GET", URL: srv.URL}, params,
			seen{"GET", "day=2026-01-01&q=a%26b%3Dc", "", ""}},
		{"no params: unchanged", jobs.HTTPSpec{Method: "POST", URL: srv.URL + "/hook?x=1"}, nil,
			seen{"POST", "x=1", "", ""}},
	}
	for _, tt := range tests {
		mu.Lock()
		got = nil
		mu.Unlock()
		spec := tt.spec
		res := executor.Execute(context.Background(), &jobs.Job{Name: "h", HTTP: &spec, Settings: &jobs.Settings{Timeout: 10 * time.Second}}, executor.Options{Params: tt.params})
		if res.Status != jobs.StatusSucceeded {
			t.Fatalf("%s: %s %s", tt.name, res.Status, res.Error)
		}
		mu.Lock()
		if len(got) != 1 {
			t.Fatalf("%s: %d requests", tt.name, len(got))
		}
		g := got[0]
		mu.Unlock()
		if tt.want.ctype == "application/json" {
			var a, b map[string]string
			if json.Unmarshal([]byte(g.body), &a) != nil || json.Unmarshal([]byte(tt.want.body), &b) != nil || len(a) != len(b) || a["q"] != b["q"] || a["day"] != b["day"] {
				t.Errorf("%s: body %q, want %q", tt.name, g.body, tt.want.body)
			}
			g.body = tt.want.body
		}
		if g != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, g, tt.want)
		}
	}
}
