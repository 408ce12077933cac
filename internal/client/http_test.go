package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/internal/client"
	"github.com/tock-sched/tock/jobs"
)

func newHTTP(t *testing.T, opts client.HTTPOptions) *client.HTTP {
	t.Helper()
	c, err := client.NewHTTP(opts)
	if err != nil {
		t.Fatalf("NewHTTP(%q): %v", opts.Server, err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestNewHTTPServerURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		server, want string // want "" for an error
	}{
		{"http://tock-1:8080", "http://tock-1:8080"},
		{"http://tock-1:8080/", "http://tock-1:8080"},
		{"http://tock-1:8080/api/v1", "http://tock-1:8080"},
		{"https://ops.example.com/tock/api/v1/", "https://ops.example.com/tock"},
		{"https://ops.example.com/tock/", "https://ops.example.com/tock"},
		{"", ""},
		{"tock-1:8080", ""},
		{"ftp://tock-1", ""},
		{"http://", ""},
		{"http://admin:pw@tock-1:8080", ""},
		{"http://tock-1:8080/?token=x", ""},
		{"http://tock-1:8080/#x", ""},
		{"http://tock 1", ""},
	} {
		c, err := client.NewHTTP(client.HTTPOptions{Server: tc.server})
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q: accepted as %s, want an error", tc.server, c.Server())
		case tc.want != "" && err != nil:
			t.Errorf("%q: %v", tc.server, err)
		case tc.want != "" && c.Server() != tc.want:
			t.Errorf("%q: base %s, want %s", tc.server, c.Server(), tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: the error shows the password: %v", tc.server, err)
		}
	}
}

// TestHTTPAuth: the token goes as a bearer token; 401 and 403 keep their
// status and a cause the CLI can explain.
func TestHTTPAuth(t *testing.T) {
	t.Parallel()
	h := apitest.NewHistory(t)
	srv := serveAPI(t, h, api.Auth{Token: apiToken, ReadToken: "read-only"})
	ctx := context.Background()
	for _, tc := range []struct {
		name, token string
		write       bool
		status      int
		is          error
	}{
		{"no token, read", "", false, 401, client.ErrUnauthorized},
		{"no token, write", "", true, 401, client.ErrUnauthorized},
		{"wrong token", "nope", false, 401, client.ErrUnauthorized},
		{"read token, read", "read-only", false, 0, nil},
		{"read token, write", "read-only", true, 403, client.ErrForbidden},
		{"api token, write", apiToken, true, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newHTTP(t, client.HTTPOptions{Server: srv.URL, Token: tc.token})
			var err error
			if tc.write {
				_, err = c.SetPaused(ctx, "backup", true)
			} else {
				_, err = c.Jobs(ctx)
			}
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			checkError(t, err, tc.status, tc.is, "", "")
		})
	}
}

// TestHTTPPathPrefix: a replica behind a reverse proxy under a path works,
// and the token reaches it.
func TestHTTPPathPrefix(t *testing.T) {
	t.Parallel()
	h := apitest.NewHistory(t)
	apiSrv := serveAPI(t, h, api.Auth{Token: apiToken})
	target, err := url.Parse(apiSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	rp.Transport = tr
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.StripPrefix("/tock", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		rp.ServeHTTP(w, r)
	})))
	t.Cleanup(proxy.Close)
	c := newHTTP(t, client.HTTPOptions{Server: proxy.URL + "/tock/", Token: apiToken})
	r, err := c.Trigger(context.Background(), "report")
	if err != nil || r.Job != "report" {
		t.Fatalf("Trigger: %+v %v", r, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "POST /api/v1/jobs/report/trigger Bearer "+apiToken {
		t.Errorf("proxy saw %q", seen)
	}
}

// TestHTTPAnswers covers answers that are not the happy path: foreign
// pages, rate limiting, oversized bodies, redirects, hangs.
func TestHTTPAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		opts    client.HTTPOptions
		// status 0: not an *api.Error
		status int
		is     error
		msg    string
	}{
		{name: "HTML error page", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>bad gateway</html>"))
		}, status: 502, is: client.ErrNotAPI, msg: "not with tock's API"},
		{name: "HTML page with 200", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte("<html>welcome</html>"))
		}, is: client.ErrNotAPI, msg: "is the server URL right?"},
		{name: "JSON that is not an answer", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"jobs": "nope"}`))
		}, is: client.ErrNotAPI, msg: "decoding"},
		{name: "rate limited", handler: func(w http.ResponseWriter, _ *http.Request) {
			api.WriteError(w, http.StatusTooManyRequests, "rate limit exceeded; retry after 2s")
		}, status: 429, is: client.ErrRateLimited, msg: "retry after 2s"},
		{name: "server error", handler: func(w http.ResponseWriter, _ *http.Request) {
			api.WriteError(w, http.StatusServiceUnavailable, "the store did not answer in time; try again")
		}, status: 503, is: client.ErrServer, msg: "try again"},
		{name: "route missing", handler: func(w http.ResponseWriter, _ *http.Request) {
			api.WriteError(w, http.StatusNotFound, "no such API route")
		}, status: 404, is: client.ErrRefused, msg: "no such API route"},
		{name: "answer too large", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"jobs": [` + strings.Repeat(`{"name":"x"},`, 100) + `{"name":"x"}]}`))
		}, opts: client.HTTPOptions{MaxAnswerBytes: 512}, msg: "larger than 512 bytes"},
		{name: "hangs past the timeout", handler: func(_ http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // until the client gives up
		}, opts: client.HTTPOptions{Timeout: 50 * time.Millisecond}, msg: "Client.Timeout exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			tc.opts.Server = srv.URL
			_, err := newHTTP(t, tc.opts).Jobs(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			var e *api.Error
			if tc.status != 0 {
				checkError(t, err, tc.status, tc.is, "", tc.msg)
				return
			}
			if errors.As(err, &e) {
				t.Errorf("error %v is an *api.Error with status %d; want a plain error", err, e.Status)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
		})
	}
}

// TestHTTPRefusesMethodChangingRedirect: a POST turned into a GET by a
// redirect would report success for a change never made.
func TestHTTPRefusesMethodChangingRedirect(t *testing.T) {
	t.Parallel()
	h := apitest.NewHistory(t)
	apiSrv := serveAPI(t, h, api.Auth{})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, apiSrv.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	c := newHTTP(t, client.HTTPOptions{Server: redirect.URL})
	_, err := c.Trigger(context.Background(), "backup")
	if err == nil || !strings.Contains(err.Error(), "redirected POST to GET") {
		t.Fatalf("Trigger through a 302: %v, want a refused redirect", err)
	}
	// A GET may follow it.
	if _, err := c.Jobs(context.Background()); err != nil {
		t.Errorf("Jobs through a 302: %v", err)
	}
}

// TestHTTPChecksBeforeSending: a bad job name or run id never reaches the
// server, and the call's context bounds it.
func TestHTTPChecksBeforeSending(t *testing.T) {
	t.Parallel()
	h := apitest.NewHistory(t)
	a, err := api.New(api.Options{Service: api.NewService(api.ServiceOptions{Store: h.Store,
		Config: func() *jobs.Config { return h.Config }, Clock: apitest.NowClock(), Logger: quiet()}), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := httptest.NewServer(countRequests(a, &n))
	t.Cleanup(srv.Close)
	c := newHTTP(t, client.HTTPOptions{Server: srv.URL})
	ctx := context.Background()
	if _, err := c.Trigger(ctx, "x/../../runs/1/cancel"); !errors.Is(err, api.ErrBadParam) {
		t.Errorf("Trigger with a path in the name: %v", err)
	}
	if _, err := c.SetPaused(ctx, "", true); !errors.Is(err, api.ErrBadParam) {
		t.Errorf("SetPaused with an empty name: %v", err)
	}
	if _, err := c.Cancel(ctx, -1); !errors.Is(err, api.ErrBadParam) {
		t.Errorf("Cancel(-1): %v", err)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("%d requests reached the server, want 0", got)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Cluster(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Cluster with a canceled context: %v", err)
	}
}

// countRequests wraps h and counts the requests that reach it.
func countRequests(h http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	})
}
