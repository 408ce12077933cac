package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tock-sched/tock/jobs"
)

// defaultHTTPClient is NewHTTPClient(DefaultHTTPIdlePerHost).
var defaultHTTPClient = NewHTTPClient(DefaultHTTPIdlePerHost)

// DefaultHTTPIdlePerHost is how many idle connections the default client
// of http jobs keeps per target.
const DefaultHTTPIdlePerHost = 256

// NewHTTPClient returns a client for http jobs: no global timeout (the
// job's timeout bounds a request), and a transport that keeps up to
// idlePerHost idle connections per target instead of Go's 2. Jobs that
// fire together against one service would otherwise open and close a
// connection per run beyond the idle pool: at thousands of runs a second
// that is a good part of the CPU, and ephemeral ports run out in
// TIME_WAIT. A worker pool sizes it to its slots, the most requests it has
// in flight at once.
func NewHTTPClient(idlePerHost int) *http.Client {
	idlePerHost = max(idlePerHost, 2)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * idlePerHost
	t.MaxIdleConnsPerHost = idlePerHost
	return &http.Client{Transport: t}
}

// execHTTP sends the job's request and streams the response body into a
// CappedBuffer, so a huge body costs only the output limit.
func execHTTP(ctx context.Context, j *jobs.Job, opts Options) Result {
	spec := j.HTTP
	runCtx, cancel := attemptContext(ctx, j.Timeout)
	defer cancel()
	begin := time.Now()

	method := spec.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	target := spec.URL
	jsonBody := false
	switch {
	case spec.Body != "":
		body = strings.NewReader(spec.Body)
	case len(opts.Params) > 0 && paramsInBody(method):
		b, err := json.Marshal(opts.Params)
		if err != nil {
			return Result{Status: jobs.StatusFailed, Error: fmt.Sprintf("encoding params: %v", err)}
		}
		body, jsonBody = bytes.NewReader(b), true
	}
	if len(opts.Params) > 0 && !jsonBody {
		u, err := url.Parse(spec.URL)
		if err != nil {
			return Result{Status: jobs.StatusFailed, Error: fmt.Sprintf("building request: %v", err)}
		}
		q := u.Query()
		for k, v := range opts.Params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		target = u.String()
	}
	req, err := http.NewRequestWithContext(runCtx, method, target, body)
	if err != nil {
		return Result{Status: jobs.StatusFailed, Error: fmt.Sprintf("building request: %v", err)}
	}
	for k, v := range spec.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if jsonBody && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	// tock's own headers go last: they win over the job's.
	for _, v := range attemptVars(j, opts) {
		req.Header.Set(v.header, v.value)
	}

	// interrupted reports an error that the attempt's end caused.
	interrupted := func(res Result) Result {
		res.Status, res.Error = stopped(runCtx, j.Timeout)
		res.Duration = time.Since(begin)
		return res
	}
	if res, ok := gate(opts, begin); !ok {
		return res
	}
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		if runCtx.Err() != nil {
			return interrupted(Result{})
		}
		return Result{Status: jobs.StatusFailed, Error: err.Error(), Duration: time.Since(begin)}
	}
	defer resp.Body.Close()

	out := opts.Output
	_, err = io.Copy(out, resp.Body)
	res := Result{
		ExitCode:      intPtr(resp.StatusCode),
		Output:        out.String(),
		OutputDropped: out.Dropped(),
	}
	switch {
	case err != nil && runCtx.Err() != nil:
		return interrupted(res)
	case err != nil:
		res.Status, res.Error = jobs.StatusFailed, fmt.Sprintf("http %d: reading response body: %v", resp.StatusCode, err)
	case !httpSuccess(spec.Success, resp.StatusCode):
		res.Status, res.Error = jobs.StatusFailed, fmt.Sprintf("http %d not in success codes %s", resp.StatusCode, successText(spec.Success))
	default:
		res.Status = jobs.StatusSucceeded
	}
	res.Duration = time.Since(begin)
	return res
}

// paramsInBody reports whether an http job with no body of its own sends
// its params as a JSON body (else as query parameters).
func paramsInBody(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

func httpSuccess(codes []int, status int) bool {
	if len(codes) == 0 {
		return status >= 200 && status <= 299
	}
	return slices.Contains(codes, status)
}

func successText(codes []int) string {
	if len(codes) == 0 {
		return "2xx"
	}
	return fmt.Sprint(codes)
}
