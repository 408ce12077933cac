package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/internal/client"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

const apiToken = "s3cret-token"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// kind builds one backend over a fresh copy of the apitest history.
type kind struct {
	name string
	open func(t *testing.T) (client.Backend, *apitest.History)
}

var kinds = []kind{
	{"direct", func(t *testing.T) (client.Backend, *apitest.History) {
		h := apitest.NewHistory(t)
		return client.NewDirect(client.DirectOptions{Store: h.Store, Clock: apitest.NowClock(),
			Config: func() (*jobs.Config, error) { return h.Config, nil }}), h
	}},
	{"http", func(t *testing.T) (client.Backend, *apitest.History) {
		h := apitest.NewHistory(t)
		srv := serveAPI(t, h, api.Auth{Token: apiToken})
		c, err := client.NewHTTP(client.HTTPOptions{Server: srv.URL, Token: apiToken})
		if err != nil {
			t.Fatalf("NewHTTP: %v", err)
		}
		t.Cleanup(c.CloseIdleConnections)
		return c, h
	}},
}

// serveAPI serves the real API over h, on the history's clock.
func serveAPI(t *testing.T, h *apitest.History, auth api.Auth) *httptest.Server {
	t.Helper()
	svc := api.NewService(api.ServiceOptions{Store: h.Store, Config: func() *jobs.Config { return h.Config },
		Clock: apitest.NowClock(), Logger: quiet()})
	a, err := api.New(api.Options{Service: svc, Auth: auth, Logger: quiet()})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv
}

// backendCase is one call and what both backends must answer.
type backendCase struct {
	name string
	call func(ctx context.Context, b client.Backend, h *apitest.History) (any, error)
	// check inspects a successful answer.
	check func(t *testing.T, h *apitest.History, got any)
	// For a failure: the status, the cause and the parameter at fault.
	status int
	is     error
	param  string
	msg    string
}

func runIDs(rs []jobs.Run) []int64 {
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

func sameIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// allRuns is the history, newest first.
func allRuns(h *apitest.History) []int64 {
	return []int64{h.Missed, h.Running, h.Queued, h.Failed, h.Succeeded}
}

var backendCases = []backendCase{
	{name: "jobs", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) { return b.Jobs(ctx) },
		check: func(t *testing.T, h *apitest.History, got any) {
			js := got.([]api.Job)
			if len(js) != 3 || js[0].Name != "backup" || js[1].Name != "frozen" || js[2].Name != "report" {
				t.Fatalf("jobs = %+v, want backup, frozen, report", js)
			}
			if js[0].LastRun == nil || js[0].LastRun.ID != h.Queued || js[0].NextFire == nil || !js[0].NextFire.Equal(apitest.Now.Add(5*time.Minute)) {
				t.Errorf("backup = %+v", js[0])
			}
			if !js[1].Paused || !js[1].PausedInConfig {
				t.Errorf("frozen = %+v, want paused in config", js[1])
			}
		}},
	{name: "runs, all", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Runs(ctx, client.RunQuery{})
	}, check: func(t *testing.T, h *apitest.History, got any) {
		p := got.(api.RunPage)
		if !sameIDs(runIDs(p.Runs), allRuns(h)) || p.NextCursor != "" {
			t.Errorf("runs %v cursor %q, want %v and no cursor", runIDs(p.Runs), p.NextCursor, allRuns(h))
		}
	}},
	{name: "runs, filtered", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Runs(ctx, client.RunQuery{Job: "backup", Status: "failed", Trigger: "schedule"})
	}, check: func(t *testing.T, h *apitest.History, got any) {
		if ids := runIDs(got.(api.RunPage).Runs); !sameIDs(ids, []int64{h.Failed}) {
			t.Errorf("runs %v, want [%d]", ids, h.Failed)
		}
	}},
	{name: "runs, since is relative to the answering clock", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Runs(ctx, client.RunQuery{Since: "32m", Until: apitest.Now.Format(time.RFC3339)})
	}, check: func(t *testing.T, h *apitest.History, got any) {
		if ids := runIDs(got.(api.RunPage).Runs); !sameIDs(ids, []int64{h.Missed}) {
			t.Errorf("runs %v, want [%d]", ids, h.Missed)
		}
	}},
	{name: "runs, paged", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		var pages []api.RunPage
		q := client.RunQuery{Limit: 2}
		for i := 0; i < 5; i++ {
			p, err := b.Runs(ctx, q)
			if err != nil {
				return nil, err
			}
			pages = append(pages, p)
			if p.NextCursor == "" {
				break
			}
			q.Cursor = p.NextCursor
		}
		return pages, nil
	}, check: func(t *testing.T, h *apitest.History, got any) {
		pages := got.([]api.RunPage)
		var ids []int64
		for _, p := range pages {
			ids = append(ids, runIDs(p.Runs)...)
		}
		if len(pages) != 3 || !sameIDs(ids, allRuns(h)) {
			t.Errorf("%d pages with %v, want 3 with %v", len(pages), ids, allRuns(h))
		}
	}},
	{name: "runs, bad status", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Runs(ctx, client.RunQuery{Status: "done' OR 1=1 --"})
	}, status: 400, is: api.ErrBadParam, param: "status", msg: "is not a run status"},
	{name: "runs, bad cursor", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Runs(ctx, client.RunQuery{Cursor: "v1.!!"})
	}, status: 400, is: api.ErrBadParam, param: "cursor"},
	{name: "runs, limit too large", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Runs(ctx, client.RunQuery{Limit: api.MaxRunLimit + 1})
	}, status: 400, is: api.ErrBadParam, param: "limit"},
	{name: "runs, since after until", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Runs(ctx, client.RunQuery{Since: "1h", Until: "2h"})
	}, status: 400, is: api.ErrBadParam, param: "since"},
	{name: "run with output", call: func(ctx context.Context, b client.Backend, h *apitest.History) (any, error) {
		return b.Run(ctx, h.Succeeded)
	}, check: func(t *testing.T, h *apitest.History, got any) {
		d := got.(api.RunDetail)
		if d.Run.ID != h.Succeeded || d.Run.Status != jobs.StatusSucceeded || len(d.Attempts) != 1 || d.Attempts[0].Output != apitest.ScriptOutput {
			t.Errorf("run = %+v attempts %+v", d.Run, d.Attempts)
		}
	}},
	{name: "run not found", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Run(ctx, 4242)
	}, status: 404, is: storage.ErrNotFound, msg: "run 4242 not found"},
	{name: "run id not positive", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Run(ctx, 0)
	}, status: 400, is: api.ErrBadParam, param: "id"},
	{name: "trigger", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		r, err := b.Trigger(ctx, "backup")
		if err != nil {
			return nil, err
		}
		p, err := b.Runs(ctx, client.RunQuery{Trigger: "manual"})
		return []any{r, p}, err
	}, check: func(t *testing.T, h *apitest.History, got any) {
		r, p := got.([]any)[0].(jobs.Run), got.([]any)[1].(api.RunPage)
		if r.Job != "backup" || r.Trigger != jobs.TriggerManual || !r.ScheduledAt.Equal(apitest.Now) || r.ID <= h.Missed {
			t.Errorf("triggered run = %+v", r)
		}
		if !sameIDs(runIDs(p.Runs), []int64{r.ID}) {
			t.Errorf("manual runs %v, want [%d]", runIDs(p.Runs), r.ID)
		}
	}},
	{name: "trigger unknown job", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Trigger(ctx, "nosuch")
	}, status: 404, is: api.ErrUnknownJob, msg: `job "nosuch" is not defined`},
	{name: "trigger bad job name", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Trigger(ctx, "../runs")
	}, status: 400, is: api.ErrBadParam, param: "name"},
	{name: "pause and resume", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		p, err := b.SetPaused(ctx, "backup", true)
		if err != nil {
			return nil, err
		}
		r, err := b.SetPaused(ctx, "backup", false)
		return []api.Job{p, r}, err
	}, check: func(t *testing.T, _ *apitest.History, got any) {
		js := got.([]api.Job)
		if !js[0].Paused || js[1].Paused {
			t.Errorf("paused %v then %v, want true then false", js[0].Paused, js[1].Paused)
		}
	}},
	{name: "resume a job the config pauses", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.SetPaused(ctx, "frozen", false)
	}, check: func(t *testing.T, _ *apitest.History, got any) {
		if j := got.(api.Job); !j.Paused || !j.PausedInConfig {
			t.Errorf("frozen = %+v, want still paused by the config", j)
		}
	}},
	{name: "pause unknown job", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.SetPaused(ctx, "nosuch", true)
	}, status: 404, is: api.ErrUnknownJob},
	{name: "cancel queued", call: func(ctx context.Context, b client.Backend, h *apitest.History) (any, error) {
		return b.Cancel(ctx, h.Queued)
	}, check: func(t *testing.T, h *apitest.History, got any) {
		if r := got.(jobs.Run); r.ID != h.Queued || r.Status != jobs.StatusCanceled {
			t.Errorf("canceled run = %+v", r)
		}
	}},
	{name: "cancel running", call: func(ctx context.Context, b client.Backend, h *apitest.History) (any, error) {
		return b.Cancel(ctx, h.Running)
	}, check: func(t *testing.T, h *apitest.History, got any) {
		if r := got.(jobs.Run); r.Status != jobs.StatusRunning || !r.CancelRequested || r.Node != "node-a" {
			t.Errorf("run = %+v, want running with cancel requested", r)
		}
	}},
	{name: "cancel finished", call: func(ctx context.Context, b client.Backend, h *apitest.History) (any, error) {
		return b.Cancel(ctx, h.Succeeded)
	}, status: 409, is: storage.ErrConflict, msg: "already finished (succeeded)"},
	{name: "cancel not found", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) {
		return b.Cancel(ctx, 4242)
	}, status: 404, is: storage.ErrNotFound, msg: "run 4242 not found"},
	{name: "cluster", call: func(ctx context.Context, b client.Backend, _ *apitest.History) (any, error) { return b.Cluster(ctx) },
		check: func(t *testing.T, h *apitest.History, got any) {
			c := got.(api.Cluster)
			if c.Leader != "node-a" || c.Epoch != 1 || c.LeaderDigest != h.Config.Digest || c.Mismatches != 1 || len(c.Nodes) != 3 {
				t.Fatalf("cluster = %+v", c)
			}
			a, b, gone := c.Nodes[0], c.Nodes[1], c.Nodes[2]
			if !a.Leader || !a.Alive || !b.Alive || !b.DigestMismatch || gone.Alive || gone.DigestMismatch {
				t.Errorf("nodes = %+v", c.Nodes)
			}
		}},
	{name: "store failure", call: func(ctx context.Context, b client.Backend, h *apitest.History) (any, error) {
		h.Store.Close()
		return b.Runs(ctx, client.RunQuery{})
	}, status: 500},
}

// TestBackendsAgree runs every case on both backends, each over its own
// copy of the same history, and requires the same answer from both.
func TestBackendsAgree(t *testing.T) {
	t.Parallel()
	for _, tc := range backendCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			answers := map[string]string{}
			for _, k := range kinds {
				t.Run(k.name, func(t *testing.T) {
					b, h := k.open(t)
					got, err := tc.call(context.Background(), b, h)
					if tc.status == 0 {
						if err != nil {
							t.Fatalf("error %v", err)
						}
						tc.check(t, h, got)
						j, err := json.Marshal(got)
						if err != nil {
							t.Fatal(err)
						}
						answers[k.name] = string(j)
						return
					}
					checkError(t, err, tc.status, tc.is, tc.param, tc.msg)
				})
			}
			if a, b := answers["direct"], answers["http"]; a != b {
				t.Errorf("the backends disagree:\ndirect: %s\nhttp:   %s", a, b)
			}
		})
	}
}

func checkError(t *testing.T, err error, status int, is error, param, msg string) {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want an *api.Error with status %d", err, err, status)
	}
	if e.Status != status {
		t.Errorf("status %d (%v), want %d", e.Status, err, status)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %v is not %v", err, is)
	}
	if e.Param != param {
		t.Errorf("param %q, want %q", e.Param, param)
	}
	if !strings.Contains(e.Msg, msg) {
		t.Errorf("message %q lacks %q", e.Msg, msg)
	}
}

// TestStoreFailureDetail: at the store the operator sees why a store call
// failed; over HTTP the server keeps that to its log.
func TestStoreFailureDetail(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			b, h := k.open(t)
			h.Store.Close()
			_, err := b.Cluster(context.Background())
			closed := strings.Contains(err.Error(), "closed")
			if k.name == "direct" && (!closed || !errors.Is(err, api.ErrStore)) {
				t.Errorf("direct backend: %v, want the store's reason and api.ErrStore", err)
			}
			if k.name == "http" && (closed || !errors.Is(err, client.ErrServer)) {
				t.Errorf("http backend: %v, want the server's generic message and client.ErrServer", err)
			}
		})
	}
}

func TestDirectNeedsConfig(t *testing.T) {
	t.Parallel()
	h := apitest.NewHistory(t)
	ctx := context.Background()
	loads := 0
	s := client.NewDirect(client.DirectOptions{Store: h.Store, Clock: apitest.NowClock(), Config: func() (*jobs.Config, error) {
		loads++
		return nil, errors.New("tock.yaml: no such file")
	}})
	if _, err := s.Trigger(ctx, "backup"); err == nil || !strings.Contains(err.Error(), "tock.yaml: no such file") {
		t.Errorf("Trigger without config: %v", err)
	}
	if _, err := s.Jobs(ctx); err == nil {
		t.Error("Jobs without config: no error")
	}
	if loads != 1 {
		t.Errorf("config loaded %d times, want once", loads)
	}
	// Calls that need no config still work.
	if _, err := s.Run(ctx, h.Failed); err != nil {
		t.Errorf("Run: %v", err)
	}
	none := client.NewDirect(client.DirectOptions{Store: h.Store})
	if _, err := none.SetPaused(ctx, "backup", true); !errors.Is(err, client.ErrNoConfig) {
		t.Errorf("SetPaused without a config loader: %v, want ErrNoConfig", err)
	}
}

func TestRunQueryValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		q    client.RunQuery
		want string
	}{
		{client.RunQuery{}, ""},
		{client.RunQuery{Limit: 5}, "limit=5"},
		{client.RunQuery{Job: "a b", Status: "failed", Trigger: "manual", Since: "24h", Until: "2026-01-01T00:00:00Z", Cursor: "v1.x", Limit: -1},
			"cursor=v1.x&job=a+b&limit=-1&since=24h&status=failed&trigger=manual&until=2026-01-01T00%3A00%3A00Z"},
	} {
		if got := tc.q.Values().Encode(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.q, got, tc.want)
		}
		for k := range tc.q.Values() {
			if !strings.Contains(strings.Join(api.RunQueryParams, ","), k) {
				t.Errorf("parameter %q is not one GET /runs accepts", k)
			}
		}
	}
}

// TestBackendsFollowLogs: both backends follow an ended attempt to the
// same output and end, the running one's stored output as far as it goes,
// and name an unknown run alike.
func TestBackendsFollowLogs(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			b, h := k.open(t)
			ctx := t.Context()
			var text strings.Builder
			var end *api.RunLogs
			err := b.FollowLogs(ctx, h.Failed, 0, func(ev api.LogEvent) error {
				if ev.Output != nil {
					text.WriteString(ev.Output.Text)
				}
				if ev.End != nil {
					end = ev.End
				}
				return nil
			})
			if err != nil || text.String() != "disk full\n" || end == nil || end.Status != jobs.StatusFailed || end.ExitCode == nil || *end.ExitCode != 3 {
				t.Fatalf("FollowLogs of the failed run: %v, text %q, end %+v", err, text.String(), end)
			}
			if err := h.Store.FlushOutput(ctx, storage.OutputParams{RunID: h.Running, Attempt: 1, Node: "node-a",
				LiveOutput: storage.LiveOutput{Output: "so far\n"}}); err != nil {
				t.Fatal(err)
			}
			if l, err := b.Logs(ctx, h.Running, 0); err != nil || l.Output != "so far\n" || l.Ended || l.Bytes != 7 {
				t.Fatalf("Logs of the running run: %+v, %v", l, err)
			}
			// The first event of a follow is the output so far; the
			// caller's error ends the follow with that error.
			stop := errors.New("seen enough")
			err = b.FollowLogs(ctx, h.Running, 1, func(ev api.LogEvent) error {
				if ev.Output != nil && ev.Output.Text == "so far\n" {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) {
				t.Fatalf("FollowLogs of the running run returned %v, want the emit's error", err)
			}
			err = b.FollowLogs(ctx, 999999, 0, func(api.LogEvent) error { return nil })
			checkError(t, err, 404, storage.ErrNotFound, "", "run 999999 not found")
		})
	}
}
