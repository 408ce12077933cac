//go:build linux

package executor_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

const testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestTraceparentEnv: command and shell jobs get the attempt's
// traceparent as TRACEPARENT, over their own; without one, nothing is
// set and the job's own value stays.
func TestTraceparentEnv(t *testing.T) {
	t.Parallel()
	script := `echo "${TRACEPARENT-unset}"`
	for _, tc := range []struct {
		name   string
		job    jobs.Job
		tp     string
		want   string
		jobEnv map[string]string
	}{
		{name: "shell", job: jobs.Job{Shell: script}, tp: testTraceparent, want: testTraceparent},
		{name: "command", job: jobs.Job{Command: []string{"/bin/sh", "-c", script}}, tp: testTraceparent, want: testTraceparent},
		{name: "over the job's own", job: jobs.Job{Shell: script}, tp: testTraceparent, want: testTraceparent, jobEnv: map[string]string{"TRACEPARENT": "mine"}},
		{name: "none: unset", job: jobs.Job{Shell: script}, want: "unset"},
		{name: "none: the job's own stays", job: jobs.Job{Shell: script}, want: "mine", jobEnv: map[string]string{"TRACEPARENT": "mine"}},
	} {
		j := tc.job
		j.Name, j.Env = "traced", tc.jobEnv
		res := executor.Execute(context.Background(), &j, executor.Options{Fence: testFence, Traceparent: tc.tp})
		if res.Status != jobs.StatusSucceeded || res.Output != tc.want+"\n" {
			t.Errorf("%s: status %q output %q, want %q", tc.name, res.Status, res.Output, tc.want)
		}
	}
}

// TestTraceparentHeader: http jobs get the attempt's traceparent header,
// over a configured one; without one, the configured header stays.
func TestTraceparentHeader(t *testing.T) {
	t.Parallel()
	got := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got <- r.Header.Values("Traceparent")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name    string
		headers map[string]string
		tp      string
		want    []string
	}{
		{name: "set", tp: testTraceparent, want: []string{testTraceparent}},
		{name: "over the job's", headers: map[string]string{"traceparent": "mine"}, tp: testTraceparent, want: []string{testTraceparent}},
		{name: "none", want: nil},
		{name: "none: the job's stays", headers: map[string]string{"traceparent": "mine"}, want: []string{"mine"}},
	} {
		j := &jobs.Job{Name: "hook", HTTP: &jobs.HTTPSpec{URL: srv.URL, Headers: tc.headers}}
		res := executor.Execute(context.Background(), j, executor.Options{Fence: testFence, Traceparent: tc.tp})
		if res.Status != jobs.StatusSucceeded {
			t.Fatalf("%s: %+v", tc.name, res)
		}
		if h := <-got; len(h) != len(tc.want) || len(h) == 1 && h[0] != tc.want[0] {
			t.Errorf("%s: traceparent headers %q, want %q", tc.name, h, tc.want)
		}
	}
}
