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

// TestExecuteShardEnv: a broadcast shard learns its index and total; any
// other run sees neither, and the job's env cannot fake them.
func TestExecuteShardEnv(t *testing.T) {
	t.Parallel()
	script := `echo "${TOCK_SHARD_INDEX-unset} ${TOCK_SHARD_TOTAL-unset}"`
	for _, tc := range []struct {
		name string
		opts executor.Options
		env  map[string]string
		want string
	}{
		{"not a shard", executor.Options{Fence: testFence}, nil, "unset unset\n"},
		{"shard 0 of 3", executor.Options{Fence: testFence, Shard: 0, ShardTotal: 3}, nil, "0 3\n"},
		{"shard 2 of 3 over the job's env", executor.Options{Fence: testFence, Shard: 2, ShardTotal: 3},
			map[string]string{"TOCK_SHARD_INDEX": "9", "TOCK_SHARD_TOTAL": "9"}, "2 3\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			j := &jobs.Job{Name: "bc", Shell: script, Env: tc.env}
			res := executor.Execute(context.Background(), j, tc.opts)
			if res.Status != jobs.StatusSucceeded || res.Output != tc.want {
				t.Fatalf("got %s %q, want %q", res.Status, res.Output, tc.want)
			}
		})
	}
}

func TestExecuteShardHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer srv.Close()
	j := &jobs.Job{Name: "bc", HTTP: &jobs.HTTPSpec{Method: "POST", URL: srv.URL}}
	res := executor.Execute(context.Background(), j, executor.Options{Fence: testFence, Shard: 1, ShardTotal: 2})
	if res.Status != jobs.StatusSucceeded {
		t.Fatalf("got %+v", res)
	}
	h := <-got
	if h.Get("X-Tock-Shard-Index") != "1" || h.Get("X-Tock-Shard-Total") != "2" {
		t.Fatalf("shard headers %q/%q, want 1/2", h.Get("X-Tock-Shard-Index"), h.Get("X-Tock-Shard-Total"))
	}
}
