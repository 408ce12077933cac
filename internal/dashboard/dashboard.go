package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

//go:embed templates/*.html static
var files embed.FS

// Options configure the dashboard.
type Options struct {
	Service *api.Service
	// Auth holds the API tokens; with a token set, actions (and, with a
	// read token, pages) need a login with it.
	Auth    api.Auth
	Logger  *slog.Logger // default slog.Default()
	Clock   clock.Clock  // default clock.Real
	Version string
	// Breakers, when set, returns this replica's http circuit breaker states
	// by target (worker.Pool.Breakers); the Cluster page lists them.
	// Default none: a replica without a worker pool.
	Breakers func() map[string]string
}

// Dashboard serves the web pages at /.
type Dashboard struct {
	svc     *api.Service
	auth    api.Auth
	log     *slog.Logger
	clock   clock.Clock
	version string
	// breakers is Options.Breakers (breakers.go).
	breakers func() map[string]string
	// csrfKey is random per process: forms rendered by this process carry
	// tokens only this process accepts.
	csrfKey []byte
	pages   map[string]*template.Template
	mux     *http.ServeMux
	// logs serves the event streams of the run page's live output.
	logs *api.LogStreams
}

var pageNames = []string{"jobs", "job", "runs", "run", "cluster", "audit", "login", "error"}

// New returns the dashboard.
func New(o Options) (*Dashboard, error) {
	if o.Service == nil {
		return nil, errors.New("dashboard: Options.Service is nil")
	}
	if err := o.Auth.Check(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	d := &Dashboard{svc: o.Service, auth: o.Auth, log: o.Logger.With(slog.String("component", "dashboard")), clock: o.Clock,
		version: o.Version, breakers: o.Breakers, csrfKey: randomBytes(32), pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	d.logs = api.NewLogStreams(o.Service, d.log)
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(d.funcs()).ParseFS(files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: parsing template %s: %w", name, err)
		}
		d.pages[name] = t
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, fmt.Errorf("dashboard: static files: %w", err)
	}
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	d.mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	}))
	d.mux.HandleFunc("GET /{$}", d.read(d.jobsPage))
	d.mux.HandleFunc("GET /jobs/{name}", d.read(d.jobPage))
	d.mux.HandleFunc("POST /jobs/{name}/backfill", d.form(d.write(d.backfill)))
	d.mux.HandleFunc("GET /runs", d.read(d.runsPage))
	d.mux.HandleFunc("GET /runs/{id}", d.read(d.runPage))
	// The run page's live output (static/live.js): the API's stream, with
	// the dashboard's session instead of a bearer token.
	d.mux.HandleFunc("GET /runs/{id}/logs", d.read(d.logs.ServeHTTP))
	d.mux.HandleFunc("GET /cluster", d.read(d.clusterPage))
	d.mux.HandleFunc("GET /audit", d.read(d.auditPage))
	d.mux.HandleFunc("GET /login", d.loginPage)
	d.mux.HandleFunc("POST /login", d.form(d.login))
	d.mux.HandleFunc("POST /logout", d.form(d.logout))
	d.mux.HandleFunc("POST /jobs/{name}/trigger", d.form(d.write(d.trigger)))
	d.mux.HandleFunc("POST /jobs/{name}/pause", d.form(d.write(d.setPaused(true))))
	d.mux.HandleFunc("POST /jobs/{name}/resume", d.form(d.write(d.setPaused(false))))
	d.mux.HandleFunc("POST /runs/{id}/cancel", d.form(d.write(d.cancel)))
	d.mux.HandleFunc("POST /backfills/{id}/cancel", d.form(d.write(d.cancelBackfill)))
	d.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		d.errorPage(w, r, http.StatusNotFound, "No such page.")
	})
	return d, nil
}

// CloseStreams ends the live output streams in flight (server shutdown).
func (d *Dashboard) CloseStreams() { d.logs.Close() }

// ServeHTTP serves the dashboard.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	d.mux.ServeHTTP(w, r)
}

func (d *Dashboard) now() time.Time { return d.clock.Now() }

// page is what every template gets.
type page struct {
	Title   string
	Nav     string
	Node    string
	Lease   string
	Version string
	// CanWrite shows the action buttons; Login offers the login link.
	CanWrite bool
	LoggedIn bool
	Login    bool
	// User is the name of the session's token: the actor of its changes.
	User string
	CSRF string
	// Path is the current URL, where the login form returns to.
	Path string
	Now  time.Time
	Data any
}

func (d *Dashboard) newPage(w http.ResponseWriter, r *http.Request, title, nav string, data any) page {
	id, lease := d.svc.Node()
	acc := d.access(r)
	user, _ := d.session(r)
	return page{
		User:  user,
		Title: title, Nav: nav, Node: id, Lease: lease, Version: d.version,
		CanWrite: acc >= api.AccessWrite,
		LoggedIn: d.auth.Enabled() && d.sessionAccess(r) > api.AccessNone,
		Login:    d.auth.Enabled() && acc < api.AccessWrite,
		CSRF:     d.csrfToken(d.csrfID(w, r)),
		Path:     r.URL.RequestURI(),
		Now:      d.now(),
		Data:     data,
	}
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (d *Dashboard) render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := d.pages[name].Execute(&buf, p); err != nil {
		d.log.Error("rendering page", slog.String("page", name), slog.Any("error", err))
		http.Error(w, "internal error rendering the page (see the server log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (d *Dashboard) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d.render(w, status, "error", d.newPage(w, r, http.StatusText(status), "", errorData{Status: status, Msg: msg}))
}

type errorData struct {
	Status int
	Msg    string
}

// fail shows a Service error.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := api.StatusOf(err)
	d.errorPage(w, r, status, msg)
}

// read guards a page: without read access, go to the login form.
func (d *Dashboard) read(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.access(r) < api.AccessRead {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r)
	}
}

// form parses a POSTed form and checks its CSRF token.
func (d *Dashboard) form(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				d.errorPage(w, r, http.StatusRequestEntityTooLarge, "The form is too large.")
				return
			}
			d.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
			return
		}
		if !d.checkCSRF(r) {
			d.errorPage(w, r, http.StatusForbidden, "The form has expired or did not come from this page. Go back, reload the page and try again.")
			return
		}
		h(w, r)
	}
}

// write guards an action: it needs write access.
func (d *Dashboard) write(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.access(r) < api.AccessWrite {
			d.errorPage(w, r, http.StatusForbidden, "This needs the API token: log in first.")
			return
		}
		h(w, api.WithActor(r, d.actor(r), storage.SourceDashboard))
	}
}

func (d *Dashboard) jobsPage(w http.ResponseWriter, r *http.Request) {
	js, err := d.svc.Jobs(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, http.StatusOK, "jobs", d.newPage(w, r, "Jobs", "jobs", d.strips(r, js)))
}

type runsData struct {
	Query   url.Values
	Jobs    []string
	Runs    []jobs.Run
	Next    string
	Newest  string
	Error   string
	Limits  []int
	States  []jobs.RunStatus
	Reasons []jobs.Trigger
	Paged   bool
}

func (d *Dashboard) runsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := runsData{Query: q, Limits: []int{50, 100, 500, 1000}, States: jobs.AllStatuses, Reasons: jobs.AllTriggers, Paged: q.Get("cursor") != ""}
	if js, err := d.svc.Jobs(r.Context()); err == nil {
		for _, j := range js {
			data.Jobs = append(data.Jobs, j.Name)
		}
	}
	newest := cloneValues(q)
	newest.Del("cursor")
	data.Newest = "/runs?" + newest.Encode()
	f, err := api.ParseRunQuery(withoutEmpty(q), d.now())
	if err != nil {
		data.Error = err.Error()
		d.render(w, http.StatusBadRequest, "runs", d.newPage(w, r, "Runs", "runs", data))
		return
	}
	p, err := d.svc.Runs(r.Context(), f)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	data.Runs = p.Runs
	if p.NextCursor != "" {
		next := cloneValues(q)
		next.Set("cursor", p.NextCursor)
		data.Next = "/runs?" + next.Encode()
	}
	d.render(w, http.StatusOK, "runs", d.newPage(w, r, "Runs", "runs", data))
}

// withoutEmpty drops the empty fields a GET form sends.
func withoutEmpty(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		for _, s := range v {
			if s != "" {
				out.Add(k, s)
			}
		}
	}
	return out
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range withoutEmpty(q) {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func (d *Dashboard) runPage(w http.ResponseWriter, r *http.Request) {
	id, err := api.ParseRunID("id", r.PathValue("id"))
	if err != nil {
		d.fail(w, r, err)
		return
	}
	rd, err := d.svc.Run(r.Context(), id)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	data := runData{RunDetail: rd, Upstream: d.linked(r, rd.Run.UpstreamRuns), Downstream: d.linked(r, rd.Run.DownstreamRuns)}
	d.render(w, http.StatusOK, "run", d.newPage(w, r, fmt.Sprintf("Run %d", id), "runs", data))
}

func (d *Dashboard) clusterPage(w http.ResponseWriter, r *http.Request) {
	c, err := d.svc.Cluster(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	data := clusterData{Cluster: c}
	data.Breakers, data.ShowBreakers = breakerRows(d.breakers)
	d.render(w, http.StatusOK, "cluster", d.newPage(w, r, "Cluster", "cluster", data))
}

type loginData struct {
	Next  string
	Error string
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	if !d.auth.Enabled() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	d.render(w, http.StatusOK, "login", d.newPage(w, r, "Log in", "", loginData{Next: localPath(r.URL.Query().Get("next"))}))
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.PostForm.Get("next"))
	name, level := d.auth.Identify(r.PostForm.Get("token"))
	tok, _ := d.auth.Lookup(name)
	if level == api.AccessNone || tok.Access != level {
		d.log.Info("dashboard login refused", slog.String("remote", r.RemoteAddr))
		d.render(w, http.StatusUnauthorized, "login", d.newPage(w, r, "Log in", "", loginData{Next: next, Error: "That token is not valid."}))
		return
	}
	exp := d.now().Add(SessionTTL)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: d.newSession(tok, exp), Path: "/", Expires: exp,
		MaxAge: int(SessionTTL / time.Second), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// localPath keeps a redirect target on this site.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	return p
}

func (d *Dashboard) trigger(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	req := api.TriggerRequest{At: strings.TrimSpace(r.PostForm.Get("at"))}
	for k, vs := range r.PostForm {
		p, ok := strings.CutPrefix(k, "param.")
		// An empty field leaves the parameter to its default.
		if !ok || len(vs) == 0 || vs[0] == "" {
			continue
		}
		if req.Params == nil {
			req.Params = map[string]string{}
		}
		req.Params[p] = vs[0]
	}
	run, err := d.svc.TriggerWith(r.Context(), name, req)
	if err != nil {
		d.formFailed(w, r, name, err, nil)
		return
	}
	http.Redirect(w, r, "/runs/"+strconv.FormatInt(run.ID, 10), http.StatusSeeOther)
}

func (d *Dashboard) setPaused(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		j, err := d.svc.SetPaused(r.Context(), r.PathValue("name"), paused)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/#job-"+url.PathEscape(j.Name), http.StatusSeeOther)
	}
}

func (d *Dashboard) cancel(w http.ResponseWriter, r *http.Request) {
	id, err := api.ParseRunID("id", r.PathValue("id"))
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if _, err := d.svc.Cancel(r.Context(), id); err != nil {
		d.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/runs/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

// jobData is what the job page shows: the job, and the outcome of a form
// posted from it.
type jobData struct {
	Job api.Job
	// Graph is the dependency graph around the job (after:).
	Graph    api.DepGraph
	Error    string
	Backfill *api.Backfill
	// History is the picture of the job's newest runs (history.go).
	History history
}

// DefaultMaxConcurrent fills the backfill form's field.
func (jobData) DefaultMaxConcurrent() int { return api.DefaultBackfillMaxConcurrent }

// jobPage shows one job, the dependency graph around it (server rendered,
// no script needed) and, to writers, its trigger and backfill forms.
func (d *Dashboard) jobPage(w http.ResponseWriter, r *http.Request) {
	j, err := d.svc.Job(r.Context(), r.PathValue("name"))
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.showJob(w, r, http.StatusOK, jobData{Job: j})
}

// showJob renders the job page of data.Job with its dependency graph.
func (d *Dashboard) showJob(w http.ResponseWriter, r *http.Request, status int, data jobData) {
	g, err := d.svc.Graph(r.Context(), data.Job.Name)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	data.Graph = g
	if data.History, err = d.jobHistory(r, data.Job.Name); err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, status, "job", d.newPage(w, r, "Job "+data.Job.Name, "jobs", data))
}

// formFailed shows the job page again with a form's error (a 400 names the
// field at fault), or the error page when the job itself is the problem.
func (d *Dashboard) formFailed(w http.ResponseWriter, r *http.Request, name string, err error, b *api.Backfill) {
	j, jerr := d.svc.Job(r.Context(), name)
	if jerr != nil {
		d.fail(w, r, jerr)
		return
	}
	status, msg := api.StatusOf(err)
	d.showJob(w, r, status, jobData{Job: j, Error: msg, Backfill: b})
}

func (d *Dashboard) backfill(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	req := api.BackfillRequest{From: strings.TrimSpace(r.PostForm.Get("from")), To: strings.TrimSpace(r.PostForm.Get("to")),
		DryRun: r.PostForm.Get("dry_run") != "", Actor: d.actor(r) + " via dashboard " + r.RemoteAddr}
	if s := strings.TrimSpace(r.PostForm.Get("max_concurrent")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			d.formFailed(w, r, name, &api.Error{Status: http.StatusBadRequest, Param: "max_concurrent",
				Msg: "max_concurrent: want a whole number, 0 or more", Err: api.ErrBadParam}, nil)
			return
		}
		req.MaxConcurrent = &n
	}
	b, err := d.svc.Backfill(r.Context(), name, req)
	if err != nil {
		d.formFailed(w, r, name, err, nil)
		return
	}
	j, err := d.svc.Job(r.Context(), name)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.showJob(w, r, http.StatusOK, jobData{Job: j, Backfill: &b})
}

func (d *Dashboard) cancelBackfill(w http.ResponseWriter, r *http.Request) {
	id, err := api.ParseRunID("id", r.PathValue("id"))
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if _, err := d.svc.CancelBackfill(r.Context(), id); err != nil {
		d.fail(w, r, err)
		return
	}
	back := "/runs?trigger=backfill"
	if job := r.PostForm.Get("job"); job != "" {
		back += "&job=" + url.QueryEscape(job)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
