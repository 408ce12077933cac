package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Prefix is the path prefix of every API route.
const Prefix = "/api/v1"

// DefaultMaxBodyBytes caps a request body. API calls carry none; the cap
// only bounds what a client can make the server read.
const DefaultMaxBodyBytes = 64 << 10

// Options configure the API handler.
type Options struct {
	Service *Service
	Auth    Auth
	Logger  *slog.Logger // default slog.Default()
	// MaxBodyBytes caps request bodies (413 beyond). Default 64 KiB.
	MaxBodyBytes int64
}

// API serves the REST API, /healthz and /readyz.
type API struct {
	svc     *Service
	auth    Auth
	log     *slog.Logger
	maxBody int64
	mux     *http.ServeMux
	logs    *LogStreams
}

// Route is one method and path pattern the API serves.
type Route struct {
	Method string
	// Pattern is an http.ServeMux path pattern, e.g. /api/v1/runs/{id}.
	Pattern string
	// Write is true for calls that change state (they need the API token).
	Write bool
	// Open is true for calls that need no token at all (health, the
	// OpenAPI document).
	Open bool
	// Body is true for write calls that read a JSON body (others have
	// theirs drained and ignored).
	Body    bool
	handler http.HandlerFunc
}

// New returns the API.
func New(opts Options) (*API, error) {
	if opts.Service == nil {
		return nil, errors.New("api: Options.Service is nil")
	}
	if err := opts.Auth.Check(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	a := &API{svc: opts.Service, auth: opts.Auth, log: opts.Logger.With(slog.String("component", "api")), maxBody: opts.MaxBodyBytes, mux: http.NewServeMux()}
	a.logs = NewLogStreams(a.svc, a.log)
	for _, rt := range a.Routes() {
		a.mux.Handle(rt.Method+" "+rt.Pattern, a.guard(rt))
	}
	a.mux.HandleFunc(Prefix+"/", a.notFound)
	return a, nil
}

// Routes lists every route the API serves.
func (a *API) Routes() []Route {
	return []Route{
		{Method: http.MethodGet, Pattern: "/healthz", Open: true, handler: a.healthz},
		{Method: http.MethodGet, Pattern: "/readyz", Open: true, handler: a.readyz},
		{Method: http.MethodGet, Pattern: Prefix + "/openapi.json", Open: true, handler: serveOpenAPI},
		{Method: http.MethodGet, Pattern: Prefix + "/jobs", handler: a.listJobs},
		{Method: http.MethodGet, Pattern: Prefix + "/jobs/{name}", handler: a.getJob},
		{Method: http.MethodPost, Pattern: Prefix + "/jobs/{name}/trigger", Write: true, Body: true, handler: a.triggerJob},
		{Method: http.MethodPost, Pattern: Prefix + "/jobs/{name}/backfill", Write: true, Body: true, handler: a.backfillJob},
		{Method: http.MethodPost, Pattern: Prefix + "/jobs/{name}/pause", Write: true, handler: a.pauseJob(true)},
		{Method: http.MethodPost, Pattern: Prefix + "/jobs/{name}/resume", Write: true, handler: a.pauseJob(false)},
		{Method: http.MethodGet, Pattern: Prefix + "/runs", handler: a.listRuns},
		{Method: http.MethodGet, Pattern: Prefix + "/runs/{id}", handler: a.getRun},
		{Method: http.MethodGet, Pattern: Prefix + "/runs/{id}/logs", handler: a.runLogs},
		{Method: http.MethodPost, Pattern: Prefix + "/runs/{id}/cancel", Write: true, handler: a.cancelRun},
		{Method: http.MethodPost, Pattern: Prefix + "/backfills/{id}/cancel", Write: true, handler: a.cancelBackfill},
		{Method: http.MethodGet, Pattern: Prefix + "/cluster", handler: a.cluster},
		{Method: http.MethodGet, Pattern: Prefix + "/audit", handler: a.listAudit},
	}
}

// ServeHTTP serves the API routes, /healthz and /readyz.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// guard applies the body cap and the token check of a route.
func (a *API) guard(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, a.maxBody)
		if !rt.Open {
			name, ok := a.auth.authorize(w, r, rt.Write)
			if !ok {
				return
			}
			r = WithActor(r, name, storage.SourceAPI)
		}
		if rt.Write && !rt.Body && !a.drain(w, r) {
			return
		}
		rt.handler(w, r)
	})
}

// bodyRead answers a failed read of the request body: 413 when it was
// over the cap, 400 otherwise; it reports whether the read succeeded.
func bodyRead(w http.ResponseWriter, err error) bool {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading request body failed")
		return false
	}
	return true
}

// drain reads and discards a mutating call's body (none is expected), so an
// oversized one is refused with 413 rather than ignored.
func (a *API) drain(w http.ResponseWriter, r *http.Request) bool {
	_, err := io.Copy(io.Discard, r.Body)
	return bodyRead(w, err)
}

// notFound answers API paths no route serves: 405 with Allow when the path
// exists for other methods, 404 otherwise.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != Prefix+"/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		if slices.Contains(allow, http.MethodGet) {
			allow = append(allow, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here (allowed: "+strings.Join(allow, ", ")+")")
		return
	}
	writeError(w, http.StatusNotFound, "no such API route; see "+Prefix+"/openapi.json")
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
	// Param names the request parameter at fault, for a 400.
	Param string `json:"param,omitempty"`
}

// writeJSON writes v as the JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: msg})
}

// WriteError writes the JSON error body for status and msg; the HTTP server
// uses it for its own refusals (429, 413, 403) so every answer has one shape.
func WriteError(w http.ResponseWriter, status int, msg string) { writeError(w, status, msg) }

// fail writes err as the client may see it. Service errors were logged
// where they happened; anything else is logged here.
func (a *API) fail(w http.ResponseWriter, err error) { writeFailure(a.log, w, err) }

// writeFailure is API.fail with the logger given.
func writeFailure(log *slog.Logger, w http.ResponseWriter, err error) {
	status, msg := StatusOf(err)
	body := ErrorBody{Error: msg}
	var e *Error
	if errors.As(err, &e) {
		body.Param = e.Param
	} else {
		log.Error("request failed", slog.Any("error", err))
	}
	writeJSON(w, status, body)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	rd := a.svc.Ready(r.Context())
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rd)
}

// JobList is the body of GET /jobs.
type JobList struct {
	Jobs []Job `json:"jobs"`
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	js, err := a.svc.Jobs(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, JobList{Jobs: js})
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := a.svc.Job(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (a *API) triggerJob(w http.ResponseWriter, r *http.Request) {
	var req TriggerRequest
	if !a.decodeBody(w, r, &req) {
		return
	}
	run, err := a.svc.TriggerWith(r.Context(), r.PathValue("name"), req)
	if err != nil {
		a.fail(w, err)
		return
	}
	w.Header().Set("Location", Prefix+"/runs/"+itoa(run.ID))
	writeJSON(w, http.StatusAccepted, run)
}

func (a *API) pauseJob(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		j, err := a.svc.SetPaused(r.Context(), r.PathValue("name"), paused)
		if err != nil {
			a.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, j)
	}
}

func (a *API) listRuns(w http.ResponseWriter, r *http.Request) {
	f, err := ParseRunQuery(r.URL.Query(), a.svc.Now())
	if err != nil {
		a.fail(w, err)
		return
	}
	p, err := a.svc.Runs(r.Context(), f)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *API) runLogs(w http.ResponseWriter, r *http.Request) { a.logs.ServeHTTP(w, r) }

func (a *API) getRun(w http.ResponseWriter, r *http.Request) {
	onID(a, w, r, a.svc.Run)
}

// onID answers a request on /…/{id} with fn's result for the id, as JSON
// with 200, or fn's or the id's error.
func onID[T any](a *API, w http.ResponseWriter, r *http.Request, fn func(context.Context, int64) (T, error)) {
	id, err := ParseRunID("id", r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	v, err := fn(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *API) cancelRun(w http.ResponseWriter, r *http.Request) {
	id, err := ParseRunID("id", r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	run, err := a.svc.Cancel(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return
	}
	status := http.StatusOK
	if run.Status == jobs.StatusRunning {
		// The worker stops it on its next heartbeat.
		status = http.StatusAccepted
	}
	writeJSON(w, status, run)
}

func (a *API) cluster(w http.ResponseWriter, r *http.Request) {
	c, err := a.svc.Cluster(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}
