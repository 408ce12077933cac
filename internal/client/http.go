package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Defaults of HTTPOptions.
const (
	// DefaultTimeout bounds one API call, answer included.
	DefaultTimeout = 30 * time.Second
	// DefaultDialTimeout bounds connecting to the server.
	DefaultDialTimeout = 5 * time.Second
	// DefaultMaxAnswerBytes caps an answer: a page of 1000 runs or a run
	// with every attempt's captured output fits many times over.
	DefaultMaxAnswerBytes = 64 << 20
	// maxErrorBytes caps how much of an error answer is read.
	maxErrorBytes = 64 << 10
)

// HTTPOptions configure an HTTP backend.
type HTTPOptions struct {
	// Server is the base URL of a tock replica, e.g. http://tock-1:8080 or
	// https://ops.example.com/tock; a trailing /api/v1 is accepted.
	Server string
	// Token is sent as "Authorization: Bearer" when not empty.
	Token string
	// Timeout bounds each call. Default DefaultTimeout.
	Timeout time.Duration
	// MaxAnswerBytes caps an answer's body. Default DefaultMaxAnswerBytes.
	MaxAnswerBytes int64
	// Transport sends the requests. Default: http.DefaultTransport's
	// settings (proxy from the environment) with DefaultDialTimeout and a
	// response header timeout of Timeout.
	Transport http.RoundTripper
	// UserAgent is sent with every request. Default "tock-client".
	UserAgent string
}

// HTTP is the Backend that calls the REST API of a tock replica.
type HTTP struct {
	base    string // scheme://host[/path], no trailing slash
	token   string
	agent   string
	maxBody int64
	hc      *http.Client
}

var _ Backend = (*HTTP)(nil)

// NewHTTP checks the server URL and returns an HTTP backend.
func NewHTTP(opts HTTPOptions) (*HTTP, error) {
	u, err := url.Parse(opts.Server)
	if err != nil {
		return nil, fmt.Errorf("server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://HOST[:PORT] or https://…", opts.Server)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: want no user info, query or fragment; pass credentials as the token", u.Redacted())
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxAnswerBytes <= 0 {
		opts.MaxAnswerBytes = DefaultMaxAnswerBytes
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "tock-client"
	}
	if opts.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.ResponseHeaderTimeout = opts.Timeout
		opts.Transport = t
	}
	path := strings.TrimSuffix(strings.TrimSuffix(u.EscapedPath(), "/"), api.Prefix)
	c := &HTTP{
		base:    u.Scheme + "://" + u.Host + strings.TrimSuffix(path, "/"),
		token:   opts.Token,
		agent:   opts.UserAgent,
		maxBody: opts.MaxAnswerBytes,
		hc: &http.Client{
			Transport: opts.Transport,
			Timeout:   opts.Timeout,
			// A POST redirected to a GET would silently do nothing.
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return errors.New("stopped after 5 redirects")
				}
				if req.Method != via[0].Method {
					return fmt.Errorf("the server redirected %s to %s %s; pass that URL as the server", via[0].Method, req.Method, req.URL.Redacted())
				}
				return nil
			},
		},
	}
	return c, nil
}

// Server is the base URL calls go to.
func (c *HTTP) Server() string { return c.base }

// CloseIdleConnections closes the connections kept for later calls.
func (c *HTTP) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Jobs calls GET /jobs.
func (c *HTTP) Jobs(ctx context.Context) ([]api.Job, error) {
	var l api.JobList
	if err := c.call(ctx, http.MethodGet, "/jobs", nil, nil, &l); err != nil {
		return nil, err
	}
	return l.Jobs, nil
}

// Runs calls GET /runs.
func (c *HTTP) Runs(ctx context.Context, q RunQuery) (api.RunPage, error) {
	var p api.RunPage
	err := c.call(ctx, http.MethodGet, "/runs", q.Values(), nil, &p)
	return p, err
}

// Run calls GET /runs/{id}.
func (c *HTTP) Run(ctx context.Context, id int64) (api.RunDetail, error) {
	var d api.RunDetail
	if err := checkRunID(id); err != nil {
		return d, err
	}
	err := c.call(ctx, http.MethodGet, "/runs/"+strconv.FormatInt(id, 10), nil, storage.ErrNotFound, &d)
	return d, err
}

// Trigger calls POST /jobs/{name}/trigger.
func (c *HTTP) Trigger(ctx context.Context, job string) (jobs.Run, error) {
	var r jobs.Run
	if err := api.CheckJobName("name", job); err != nil {
		return r, err
	}
	err := c.call(ctx, http.MethodPost, "/jobs/"+job+"/trigger", nil, api.ErrUnknownJob, &r)
	return r, err
}

// TriggerWith calls POST /jobs/{name}/trigger with req as its body.
func (c *HTTP) TriggerWith(ctx context.Context, job string, req api.TriggerRequest) (jobs.Run, error) {
	var r jobs.Run
	if err := api.CheckJobName("name", job); err != nil {
		return r, err
	}
	err := c.send(ctx, http.MethodPost, "/jobs/"+job+"/trigger", nil, req, api.ErrUnknownJob, &r)
	return r, err
}

// Backfill calls POST /jobs/{name}/backfill.
func (c *HTTP) Backfill(ctx context.Context, job string, req api.BackfillRequest) (api.Backfill, error) {
	var b api.Backfill
	if err := api.CheckJobName("name", job); err != nil {
		return b, err
	}
	err := c.send(ctx, http.MethodPost, "/jobs/"+job+"/backfill", nil, req, api.ErrUnknownJob, &b)
	return b, err
}

// CancelBackfill calls POST /backfills/{id}/cancel.
func (c *HTTP) CancelBackfill(ctx context.Context, id int64) (api.BackfillCancel, error) {
	var b api.BackfillCancel
	if err := checkRunID(id); err != nil {
		return b, err
	}
	err := c.call(ctx, http.MethodPost, "/backfills/"+strconv.FormatInt(id, 10)+"/cancel", nil, storage.ErrNotFound, &b)
	return b, err
}

// SetPaused calls POST /jobs/{name}/pause or /resume.
func (c *HTTP) SetPaused(ctx context.Context, job string, paused bool) (api.Job, error) {
	var j api.Job
	if err := api.CheckJobName("name", job); err != nil {
		return j, err
	}
	verb := "/resume"
	if paused {
		verb = "/pause"
	}
	err := c.call(ctx, http.MethodPost, "/jobs/"+job+verb, nil, api.ErrUnknownJob, &j)
	return j, err
}

// Cancel calls POST /runs/{id}/cancel.
func (c *HTTP) Cancel(ctx context.Context, id int64) (jobs.Run, error) {
	var r jobs.Run
	if err := checkRunID(id); err != nil {
		return r, err
	}
	err := c.call(ctx, http.MethodPost, "/runs/"+strconv.FormatInt(id, 10)+"/cancel", nil, storage.ErrNotFound, &r)
	return r, err
}

// Cluster calls GET /cluster.
func (c *HTTP) Cluster(ctx context.Context) (api.Cluster, error) {
	var cl api.Cluster
	err := c.call(ctx, http.MethodGet, "/cluster", nil, nil, &cl)
	return cl, err
}

// call sends one API call and decodes a 2xx answer into out. Path is below
// api.Prefix and already safe (job names and ids are checked first);
// notFound is the cause a 404 of this route stands for (nil: the route
// names no resource, so a 404 means the server lacks the route).
func (c *HTTP) call(ctx context.Context, method, path string, q url.Values, notFound error, out any) error {
	return c.send(ctx, method, path, q, nil, notFound, out)
}

// send is call with a JSON body (in, when not nil).
func (c *HTTP) send(ctx context.Context, method, path string, q url.Values, in any, notFound error, out any) error {
	target := c.base + api.Prefix + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	what := method + " " + api.Prefix + path
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: encoding the request: %w", what, err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reqBody)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the method and URL
		}
		return fmt.Errorf("calling %s on %s: %w", what, c.base, err)
	}
	defer resp.Body.Close()
	limit := c.maxBody
	if resp.StatusCode/100 != 2 {
		limit = maxErrorBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("reading the answer to %s: %w", what, err)
	}
	isJSON := jsonType(resp.Header.Get("Content-Type"))
	if resp.StatusCode/100 != 2 {
		return answerError(resp.StatusCode, isJSON, body, notFound, what)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("the answer to %s is larger than %d bytes", what, limit)
	}
	if !isJSON {
		return fmt.Errorf("%s: %w (status %d, Content-Type %q); is the server URL right?", what, ErrNotAPI, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(out); err != nil {
		return fmt.Errorf("decoding the answer to %s: %w", what, errors.Join(ErrNotAPI, err))
	}
	return nil
}

// answerError turns an error answer into an *api.Error with the server's
// message, its status and a cause for errors.Is.
func answerError(status int, isJSON bool, body []byte, notFound error, what string) error {
	var eb api.ErrorBody
	if !isJSON || json.Unmarshal(body, &eb) != nil || eb.Error == "" {
		return &api.Error{Status: status, Err: ErrNotAPI,
			Msg: fmt.Sprintf("%s: the server answered %d %s, not with tock's API; is the server URL right?", what, status, http.StatusText(status))}
	}
	e := &api.Error{Status: status, Msg: eb.Error, Param: eb.Param}
	switch {
	case status == http.StatusBadRequest:
		e.Err = api.ErrBadParam
	case status == http.StatusUnauthorized:
		e.Err = ErrUnauthorized
	case status == http.StatusForbidden:
		e.Err = ErrForbidden
	case status == http.StatusNotFound && notFound != nil:
		e.Err = notFound
	case status == http.StatusConflict:
		e.Err = storage.ErrConflict
	case status == http.StatusTooManyRequests:
		e.Err = ErrRateLimited
	case status >= 500:
		e.Err = ErrServer
	default:
		e.Err = ErrRefused
	}
	return e
}

func jsonType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}
