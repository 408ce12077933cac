package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tock-sched/tock/internal/replica"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
)

// Environment variables the test reads.
const (
	// envChromium names the browser binary; default the first of chromium
	// and chromium-browser on PATH.
	envChromium = "TOCK_CHROMIUM"
	// envRequireBrowser set to 1 fails the test when no browser is found
	// instead of skipping it (scripts/test.sh sets it).
	envRequireBrowser = "TOCK_TEST_REQUIRE_BROWSER"
	// envScreenshotDir is where the screenshots of the pages go; default a
	// temporary directory of the test.
	envScreenshotDir = "TOCK_SCREENSHOT_DIR"
	// envUpdateScreenshots set to 1 also writes the jobs page to
	// docs/dashboard.png.
	envUpdateScreenshots = "TOCK_UPDATE_SCREENSHOTS"
)

const (
	nodeID = "tock-1"
	// sessionTimeout bounds the browser session; the test takes a few
	// seconds.
	sessionTimeout = 90 * time.Second
	// pollEvery is how often a page is reloaded while waiting for it to
	// show something.
	pollEvery = 100 * time.Millisecond
	// The viewport of every page and of docs/dashboard.png.
	viewportWidth, viewportHeight = 1280, 800
	// docsScreenshot is the README's picture of the jobs page, relative to
	// the repository root.
	docsScreenshot = "docs/dashboard.png"
)

// dashboardConfig is a small but realistic config. No schedule fires during
// the test (unless it runs across a quarter hour, which changes nothing
// asserted), so runs appear only when the test triggers them. WEBHOOK is
// replaced with the URL of a test server.
const dashboardConfig = `
defaults:
  timezone: UTC
  timeout: 5m
  retries: 0
jobs:
  - name: echo-hello
    schedule: "0 0 1 1 *"
    shell: "echo hello"
  - name: backup-db
    schedule: "30 2 * * *"
    timezone: Europe/Berlin
    timeout: 30m
    shell: "echo 'dumping app: 3 tables'; echo '142 MB written to /backups/app.sql.gz'"
  - name: sync-invoices
    schedule: "0 */6 * * *"
    shell: "echo 'fetching invoices'; echo 'upstream answered 503 Service Unavailable' >&2; exit 3"
  - name: notify-deploys
    schedule: "0 9 * * 1-5"
    timezone: America/New_York
    http: {method: POST, url: "WEBHOOK", body: '{"text": "deploys today"}', success: [200, 204]}
  - name: rotate-logs
    schedule: "@daily"
    command: ["true"]
    retries: 2
  - name: cleanup-tmp
    schedule: "*/15 * * * *"
    command: ["/usr/local/bin/cleanup", "--older-than", "7d"]
    paused: true
`

// TestDashboardInBrowser runs a replica on the embedded store and uses its
// dashboard in headless Chromium as an operator would: it reads the jobs,
// triggers runs with the buttons, waits for them on the runs page, reads
// their output, filters the runs with the form, pauses and resumes a job and
// looks at the cluster page. No page may log a console error.
func TestDashboardInBrowser(t *testing.T) {
	exe := chromiumPath(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	tock := startReplica(t, strings.ReplaceAll(dashboardConfig, "WEBHOOK", hook.URL+"/hooks/deploys"))
	b := startBrowser(t, exe, tock.url)

	// Jobs: every job of the config, none has run yet.
	b.open("/")
	jobRows := byFirstLine(b.table("jobs"), "Job")
	for _, j := range tock.cfg.Jobs {
		row, ok := jobRows[j.Name]
		if !ok {
			t.Fatalf("jobs page lacks %s; rows %v", j.Name, jobRows)
		}
		if row["Schedule"] != j.Schedule || row["Last run"] != "none yet" {
			t.Errorf("jobs page row of %s: %v", j.Name, row)
		}
	}
	if len(jobRows) != len(tock.cfg.Jobs) {
		t.Errorf("jobs page shows %d jobs, config has %d", len(jobRows), len(tock.cfg.Jobs))
	}
	if s := jobRows["cleanup-tmp"]["State"]; !strings.Contains(s, "paused") || !strings.Contains(s, "in the config file") {
		t.Errorf("cleanup-tmp state %q, want paused in the config file", s)
	}
	if !chromedpRun(b, chromedp.Evaluate[bool](`document.querySelector('#job-cleanup-tmp button[name="resume"]').disabled`)) {
		t.Errorf("cleanup-tmp, paused in the config file, has an enabled resume button")
	}
	b.screenshot("jobs-before")

	// Trigger with the buttons; each lands on the new run's page.
	want := map[string]jobs.RunStatus{
		"echo-hello":     jobs.StatusSucceeded,
		"backup-db":      jobs.StatusSucceeded,
		"sync-invoices":  jobs.StatusFailed,
		"notify-deploys": jobs.StatusSucceeded,
	}
	runOf := map[string]string{} // job → "#id"
	for _, job := range []string{"echo-hello", "backup-db", "sync-invoices", "notify-deploys"} {
		b.open("/")
		b.submit(`#job-` + job + ` button[name="trigger"]`)
		m := runPathRE.FindStringSubmatch(b.location().Path)
		if m == nil {
			t.Fatalf("trigger of %s landed on %s, want /runs/{id}", job, b.location())
		}
		if f := b.facts(); f["Job"] != job || f["Trigger"] != string(jobs.TriggerManual) {
			t.Errorf("page of the run triggered for %s: %v", job, f)
		}
		runOf[job] = "#" + m[1]
	}

	// Runs: wait until every triggered run finished as its job does.
	var runRows map[string]map[string]string
	b.eventually("the triggered runs to finish", func() (bool, string) {
		b.open("/runs")
		runRows = byFirstLine(b.table("runs"), "Run")
		done := true
		for job, id := range runOf {
			row, ok := runRows[id]
			if !ok {
				return false, fmt.Sprintf("run %s of %s not listed", id, job)
			}
			st := jobs.RunStatus(row["Status"])
			if st == want[job] {
				continue
			}
			if st.Terminal() {
				t.Fatalf("run %s of %s ended %s, want %s: %v", id, job, st, want[job], row)
			}
			done = false
		}
		return done, fmt.Sprint(runRows)
	})
	for job, id := range runOf {
		if row := runRows[id]; row["Job"] != job || row["Trigger"] != string(jobs.TriggerManual) || row["Node"] != nodeID {
			t.Errorf("runs page row %s: %v", id, row)
		}
	}
	if row := runRows[runOf["sync-invoices"]]; row["Exit"] != "3" || !strings.Contains(row["Error"], "exit status 3") {
		t.Errorf("runs page row of the failed run: %v", row)
	}
	b.screenshot("runs")

	// Run detail: the attempt and its output.
	b.open("/runs/" + strings.TrimPrefix(runOf["echo-hello"], "#"))
	if f := b.facts(); f["Job"] != "echo-hello" || f["Exit code"] != "0" || f["Attempts"] != "1 of 1" || f["Node"] != nodeID {
		t.Errorf("run page of echo-hello: %v", f)
	}
	if h := b.text("h1"); !strings.Contains(h, "succeeded") {
		t.Errorf("run page heading %q, want succeeded", h)
	}
	if out := b.text("#attempt-1 pre.output"); out != "hello" {
		t.Errorf("output of echo-hello's attempt: %q, want hello", out)
	}
	b.screenshot("run")
	b.open("/runs/" + strings.TrimPrefix(runOf["sync-invoices"], "#"))
	if out := b.text("#attempt-1 pre.output"); !strings.Contains(out, "fetching invoices") || !strings.Contains(out, "upstream answered 503") {
		t.Errorf("output of sync-invoices' attempt: %q", out)
	}
	if f := b.facts(); f["Exit code"] != "3" || !strings.Contains(f["Error"], "exit status 3") {
		t.Errorf("run page of sync-invoices: %v", f)
	}
	b.screenshot("run-failed")

	// Filters, through the form.
	b.open("/runs")
	b.do(chromedp.SetValue(chromedp.CSS(`form.filters input[name="job"]`), "sync-invoices"),
		chromedp.SetValue(chromedp.CSS(`form.filters select[name="status"]`), "failed"))
	b.submit(`form.filters button[type="submit"]`)
	if q := b.location().Query(); q.Get("job") != "sync-invoices" || q.Get("status") != "failed" {
		t.Errorf("filter form went to %s", b.location())
	}
	filtered := byFirstLine(b.table("runs"), "Run")
	if _, ok := filtered[runOf["sync-invoices"]]; !ok || len(filtered) == 0 {
		t.Errorf("runs filtered by job=sync-invoices status=failed lack run %s: %v", runOf["sync-invoices"], filtered)
	}
	for id, row := range filtered {
		if row["Job"] != "sync-invoices" || row["Status"] != string(jobs.StatusFailed) {
			t.Errorf("runs filtered by job=sync-invoices status=failed show %s: %v", id, row)
		}
	}
	if v := chromedpRun(b, chromedp.Value(chromedp.CSS(`form.filters select[name="status"]`))); v != "failed" {
		t.Errorf("filter form forgot the status: %q", v)
	}
	b.screenshot("runs-filtered")
	b.open("/runs?job=echo-hello&status=succeeded")
	filtered = byFirstLine(b.table("runs"), "Run")
	if _, ok := filtered[runOf["echo-hello"]]; !ok {
		t.Errorf("runs filtered by job=echo-hello status=succeeded lack run %s: %v", runOf["echo-hello"], filtered)
	}
	for id, row := range filtered {
		if row["Job"] != "echo-hello" || row["Status"] != string(jobs.StatusSucceeded) {
			t.Errorf("runs filtered by job=echo-hello status=succeeded show %s: %v", id, row)
		}
	}
	b.open("/runs?job=echo-hello&status=failed")
	if rows := b.table("runs"); len(rows) != 0 || b.text("p.empty") != "No runs match." {
		t.Errorf("runs filtered by job=echo-hello status=failed: %v, %q", rows, b.text("p.empty"))
	}

	// Pause and resume with the buttons.
	b.open("/")
	b.submit(`#job-rotate-logs button[name="pause"]`)
	if s := byFirstLine(b.table("jobs"), "Job")["rotate-logs"]["State"]; s != "paused" {
		t.Errorf("rotate-logs after pause: state %q", s)
	}
	b.submit(`#job-rotate-logs button[name="resume"]`)
	if s := byFirstLine(b.table("jobs"), "Job")["rotate-logs"]["State"]; s != "active" {
		t.Errorf("rotate-logs after resume: state %q", s)
	}

	// Cluster: this replica leads with its config, and its http breaker.
	b.eventually("the cluster page to show the leader", func() (bool, string) {
		b.open("/cluster")
		f := b.facts()
		return f["Leader"] == nodeID, fmt.Sprint(f)
	})
	f := b.facts()
	if epoch, err := strconv.ParseInt(f["Epoch"], 10, 64); err != nil || epoch < 1 {
		t.Errorf("cluster epoch %q, want ≥ 1", f["Epoch"])
	}
	if f["Leader's config digest"] != tock.cfg.Digest || f["Config mismatches"] != "none" {
		t.Errorf("cluster facts %v, want digest %s and no mismatch", f, tock.cfg.Digest)
	}
	nodes := b.table("nodes")
	if len(nodes) != 1 {
		t.Fatalf("cluster nodes: %v, want %s alone", nodes, nodeID)
	}
	n := nodes[0]
	if !strings.HasPrefix(n["Node"], nodeID) || n["Role"] != replica.RoleAll || n["Config digest"] != tock.cfg.Digest ||
		!strings.Contains(n["State"], "alive") || !strings.Contains(n["State"], "leader") {
		t.Errorf("cluster node row: %v", n)
	}
	hookURL, _ := url.Parse(hook.URL)
	breakers := b.table("breakers")
	if len(breakers) != 1 || !strings.Contains(breakers[0]["Target"], hookURL.Host) || breakers[0]["State"] != "closed" {
		t.Errorf("breakers: %v, want the webhook's closed", breakers)
	}
	b.screenshot("cluster")

	// Jobs again, with the last runs filled in: the README's picture.
	b.open("/")
	jobRows = byFirstLine(b.table("jobs"), "Job")
	for job, id := range runOf {
		if last := jobRows[job]["Last run"]; !strings.HasPrefix(last, id+" "+string(want[job])) {
			t.Errorf("jobs page, last run of %s: %q, want %s %s", job, last, id, want[job])
		}
	}
	png := b.screenshot("jobs")
	if os.Getenv(envUpdateScreenshots) == "1" && !t.Failed() {
		path := filepath.Join(repoRoot(t), docsScreenshot)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the pages logged console errors:\n%s", strings.Join(errs, "\n"))
	}
}

var runPathRE = regexp.MustCompile(`^/runs/(\d+)$`)

// chromiumPath finds the browser, or skips the test without one unless
// TOCK_TEST_REQUIRE_BROWSER=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser"}
	if p := os.Getenv(envChromium); p != "" {
		names = []string{p}
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("no browser: none of %s found (set %s to its path)", strings.Join(names, ", "), envChromium)
	if os.Getenv(envRequireBrowser) == "1" {
		t.Fatal(msg + "; " + envRequireBrowser + "=1")
	}
	t.Skip(msg)
	return ""
}

// tockReplica is a replica running in this process.
type tockReplica struct {
	url string
	cfg *jobs.Config
}

// startReplica runs a replica of config on a fresh SQLite store, serving
// HTTP on a free loopback port, until the test ends.
func startReplica(t *testing.T, config string) *tockReplica {
	t.Helper()
	return startReplicaWith(t, config, nil)
}

// startReplicaWith is startReplica with the replica's options changed by
// change, if not nil.
func startReplicaWith(t *testing.T, config string, change func(*replica.Options)) *tockReplica {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := jobfile.Load(path)
	if err != nil {
		t.Fatalf("loading the test config: %v", err)
	}
	logs := newLogCapture()
	ctx, stop := context.WithCancel(context.Background())
	o := replica.Options{
		ConfigPath: path, StoreURL: "sqlite:" + filepath.Join(dir, "tock.db"), NodeID: nodeID,
		Workers: 4, ShutdownGrace: 5 * time.Second, Listen: "127.0.0.1:0", Logger: slog.New(logs),
	}
	if change != nil {
		change(&o)
	}
	n, err := replica.Open(ctx, o)
	if err != nil {
		stop()
		t.Fatalf("opening the replica: %v", err)
	}
	var runErr error
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		runErr = n.Run(ctx)
	}()
	t.Cleanup(func() {
		stop()
		<-stopped
		if runErr != nil {
			t.Errorf("replica: %v", runErr)
		}
		if t.Failed() {
			t.Logf("replica log:\n%s", logs.String())
		}
	})
	select {
	case addr := <-logs.addr:
		return &tockReplica{url: "http://" + addr, cfg: cfg}
	case <-stopped:
		t.Fatalf("the replica stopped before it listened: %v", runErr)
	case <-time.After(30 * time.Second):
		t.Fatal("the replica did not report its HTTP address within 30s")
	}
	return nil
}

// logCapture keeps a replica's log and hands over the address its HTTP
// server reports, which the replica only knows once it listens on port 0.
type logCapture struct {
	slog.Handler
	mu   *sync.Mutex
	buf  *bytes.Buffer
	addr chan string
}

func newLogCapture() *logCapture {
	c := &logCapture{mu: &sync.Mutex{}, buf: &bytes.Buffer{}, addr: make(chan string, 1)}
	c.Handler = slog.NewTextHandler(lockedWriter{c.mu, c.buf}, &slog.HandlerOptions{Level: slog.LevelDebug})
	return c
}

// Handle logs r and passes on the address of "http server listening"
// (httpserver.Server.Start).
func (c *logCapture) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "http server listening" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "addr" {
				return true
			}
			select {
			case c.addr <- a.Value.String():
			default:
			}
			return false
		})
	}
	return c.Handler.Handle(ctx, r)
}

func (c *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &logCapture{Handler: c.Handler.WithAttrs(as), mu: c.mu, buf: c.buf, addr: c.addr}
}

func (c *logCapture) WithGroup(name string) slog.Handler {
	return &logCapture{Handler: c.Handler.WithGroup(name), mu: c.mu, buf: c.buf, addr: c.addr}
}

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// browser is one headless Chromium tab on the dashboard at base.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string // screenshots

	mu      sync.Mutex
	console []string // console errors, exceptions and error log entries
}

// startBrowser starts Chromium with an empty profile; the test's cleanup
// stops it.
func startBrowser(t *testing.T, exe, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewportWidth, viewportHeight),
	)
	actx, stopAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tctx, stopTab := chromedp.NewContext(actx)
	ctx, stopSession := context.WithTimeout(tctx, sessionTimeout)
	t.Cleanup(func() {
		stopSession()
		stopTab()
		stopAlloc() // waits for the browser to exit
	})
	b := &browser{t: t, ctx: ctx, base: base, dir: screenshotDir(t)}
	// Listen starts the browser; its func runs in order with the replies,
	// so every message a page logged is in b.console before the next
	// command returns.
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	b.do(chromedp.EmulateViewport(viewportWidth, viewportHeight))
	return b
}

func (b *browser) onEvent(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			parts = append(parts, a.Description+string(a.Value))
		}
		msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		msg = "exception: " + ev.ExceptionDetails.Text
		if e := ev.ExceptionDetails.Exception; e != nil {
			msg += " " + e.Description
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg = "log " + string(ev.Entry.Source) + ": " + ev.Entry.Text + " " + ev.Entry.URL
	default:
		return
	}
	b.mu.Lock()
	b.console = append(b.console, msg)
	b.mu.Unlock()
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// do runs actions, failing the test on an error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// chromedpRun runs one action that returns a value, failing the test on an
// error.
func chromedpRun[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

// open loads path and wants a 200.
func (b *browser) open(path string) {
	b.t.Helper()
	resp := chromedpRun(b, chromedp.NavigateResponse(b.base+path))
	if resp.Status != http.StatusOK {
		b.t.Fatalf("GET %s: %d %s\n%s", path, resp.Status, resp.StatusText, b.text("main"))
	}
}

// submit clicks a form's button and wants the page it leads to (after
// redirects) to load with a 200.
func (b *browser) submit(button string) {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(button)))
	if err != nil {
		b.t.Fatalf("clicking %s: %v", button, err)
	}
	if resp == nil || resp.Status != http.StatusOK {
		b.t.Fatalf("clicking %s led to %v\n%s", button, resp, b.text("main"))
	}
}

// location is the URL of the page shown.
func (b *browser) location() *url.URL {
	b.t.Helper()
	u, err := url.Parse(chromedpRun(b, chromedp.Location()))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// text is the rendered text of the first element matching the CSS selector
// sel, "" when there is none. It does not wait: the page has loaded.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return chromedpRun(b, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%s)?.innerText.trim() ?? ""`, jsString(sel))))
}

// table returns the rows of the table with that id, each as its cells'
// text by column heading; none when the page has no such table.
func (b *browser) table(id string) []map[string]string {
	b.t.Helper()
	return chromedpRun(b, chromedp.Evaluate[[]map[string]string](fmt.Sprintf(`(() => {
		const t = document.getElementById(%s);
		if (!t) return [];
		const head = Array.from(t.tHead.rows[0].cells, c => c.innerText.trim());
		return Array.from(t.tBodies[0].rows, r => Object.fromEntries(Array.from(r.cells, (c, i) => [head[i], c.innerText.trim()])));
	})()`, jsString(id))))
}

// facts returns the page's dl.facts as term → description.
func (b *browser) facts() map[string]string {
	b.t.Helper()
	return chromedpRun(b, chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(
		document.querySelectorAll('dl.facts dt'), dt => [dt.innerText.trim(), dt.nextElementSibling.innerText.trim()]))`))
}

// eventually runs check until it reports done, at most until the session
// ends; check reloads the page it looks at.
func (b *browser) eventually(what string, check func() (done bool, state string)) {
	b.t.Helper()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		done, state := check()
		if done {
			return
		}
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("waiting for %s: %v; last seen: %s", what, b.ctx.Err(), state)
		case <-tick.C:
		}
	}
}

// screenshot saves a full-page PNG of the page as name.png and returns it.
func (b *browser) screenshot(name string) []byte {
	b.t.Helper()
	png := chromedpRun(b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return png
}

// screenshotDir is TOCK_SCREENSHOT_DIR, created if missing, or a temporary
// directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(envScreenshotDir)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// repoRoot is the directory of go.mod above the package directory, where
// go test runs.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// byFirstLine indexes rows by the first line of their column col.
func byFirstLine(rows []map[string]string, col string) map[string]map[string]string {
	out := make(map[string]map[string]string, len(rows))
	for _, r := range rows {
		key, _, _ := strings.Cut(r[col], "\n")
		out[strings.TrimSpace(key)] = r
	}
	return out
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string { return strconv.Quote(s) }
