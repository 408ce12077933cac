package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tock-sched/tock/internal/replica"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/sqlite"
	"github.com/tock-sched/tock/storage/storetest"
)

// historyScreenshot is the README's picture of a job page with its
// history, relative to the repository root.
const historyScreenshot = "docs/job-history.png"

// historyConfig has a job with a history (seeded before the replica
// starts), a job that runs after it and a job that never ran. No schedule
// fires during the test.
const historyConfig = `
defaults:
  timezone: UTC
jobs:
  - name: nightly-etl
    schedule: "0 0 1 1 *"
    command: ["true"]
    concurrency: allow
  - name: publish
    schedule: "0 0 1 1 *"
    command: ["true"]
    concurrency: allow
  - name: never-ran
    schedule: "0 0 1 1 *"
    command: ["true"]
`

// seededRun is one run of the seeded history: its status, and for a run
// that started, its start lateness and duration.
type seededRun struct {
	status    jobs.RunStatus
	late, dur time.Duration
}

// historyRuns is nightly-etl's history, oldest first, one tick every 15
// minutes: mostly successes of 20–40 s, two failures, a timeout, two
// missed ticks and a skipped one.
func historyRuns() []seededRun {
	var out []seededRun
	for i := 0; i < 48; i++ {
		r := seededRun{status: jobs.StatusSucceeded, late: time.Duration(40+(i*37)%160) * time.Millisecond,
			dur: time.Duration(20000+(i*7919)%20000) * time.Millisecond}
		switch i {
		case 9, 31:
			r.status = jobs.StatusFailed
			r.dur = 3 * time.Second
		case 40:
			r.status, r.dur = jobs.StatusTimedOut, 90*time.Second
		case 17, 18:
			r = seededRun{status: jobs.StatusMissed}
		case 25:
			r = seededRun{status: jobs.StatusSkipped}
		case 36:
			r.late = 2 * time.Second
		}
		out = append(out, r)
	}
	return out
}

// seedHistory writes the runs of historyRuns for job into a new SQLite
// store at path, as a leader and a worker would have: dispatched, claimed
// at their start and finished, missed and skipped ticks recorded as such.
// The newest tick is an hour before now.
func seedHistory(t *testing.T, path string, cfg *jobs.Config, job string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, "sqlite:"+path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	epoch, err := st.BumpEpoch(ctx, "seed")
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.Job(job)
	runs := historyRuns()
	first := time.Now().UTC().Truncate(15 * time.Minute).Add(-time.Hour - time.Duration(len(runs)-1)*15*time.Minute)
	for i, sr := range runs {
		at := first.Add(time.Duration(i) * 15 * time.Minute)
		nr := storage.NewRun{Job: j.Name, Digest: j.Digest, ScheduledAt: at, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
			MaxAttempts: 1, NotBefore: at, Concurrency: jobs.ConcurrencyAllow}
		switch sr.status {
		case jobs.StatusMissed:
			nr.Status, nr.Trigger, nr.Error = jobs.StatusMissed, jobs.TriggerCatchup, "tick missed while no leader dispatched"
		case jobs.StatusSkipped:
			nr.Status, nr.Error = jobs.StatusSkipped, "upstream failed"
		}
		got, err := st.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: at, Runs: []storage.NewRun{nr}})
		if err != nil {
			t.Fatalf("seeding tick %d: %v", i, err)
		}
		if nr.Status != jobs.StatusQueued {
			continue
		}
		if len(got) != 1 {
			t.Fatalf("seeding tick %d: dispatch queued %d runs", i, len(got))
		}
		start := at.Add(sr.late)
		r, err := storetest.ClaimOne(ctx, st, storage.ClaimParams{RunID: got[0].ID, Job: j.Name, Digest: j.Digest, Node: nodeID,
			Now: start, LeaseUntil: start.Add(time.Hour)})
		if err != nil {
			t.Fatalf("seeding tick %d: %v", i, err)
		}
		code := 0
		if sr.status != jobs.StatusSucceeded {
			code = 1
		}
		if _, err := st.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: r.Attempt, Node: nodeID, Status: sr.status,
			FinishedAt: start.Add(sr.dur), ExitCode: &code}); err != nil {
			t.Fatalf("seeding tick %d: %v", i, err)
		}
	}
}

// TestDashboardHistoryPictures seeds a job's history, then looks at the
// pictures in the browser: the strip on the job page (a cell per run row,
// missed and skipped included, colored by status, each a link with a
// tooltip), the duration and lateness charts with their percentiles, the
// empty state of a job without runs, and the strips of the jobs list.
func TestDashboardHistoryPictures(t *testing.T) {
	exe := chromiumPath(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(cfgPath, []byte(historyConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := jobfile.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "history.db")
	seedHistory(t, db, cfg, "nightly-etl")
	tock := startReplicaWith(t, historyConfig, func(o *replica.Options) { o.StoreURL = "sqlite:" + db })
	b := startBrowser(t, exe, tock.url)
	seeded := historyRuns()

	// A manual run of publish through the dashboard: its strip and charts
	// come from a run the replica itself executed.
	b.open("/")
	b.submit(`#job-publish button[name="trigger"]`)
	b.eventually("the publish run to succeed", func() (bool, string) {
		b.open("/jobs/publish")
		n := chromedpRun(b, chromedp.Evaluate[int](`document.querySelectorAll('#strip rect.cell.c-succeeded').length`))
		return n == 1, b.text("#history ~ section")
	})
	if got := b.text("#lateness-stats"); !strings.HasPrefix(got, "p50 ") {
		t.Errorf("publish lateness stats %q", got)
	}

	b.open("/jobs/nightly-etl")
	type cell struct {
		Class, Href, Title string
	}
	cells := chromedpRun(b, chromedp.Evaluate[[]cell](`Array.from(document.querySelectorAll('#strip svg.strip rect.cell'), r => ({
		Class: r.getAttribute('class'), Href: r.parentElement.getAttribute('href'), Title: r.querySelector('title').textContent}))`))
	if len(cells) != len(seeded) {
		t.Fatalf("strip has %d cells, want one per run row (%d)", len(cells), len(seeded))
	}
	prevID := 0
	for i, c := range cells {
		if want := "cell c-" + string(seeded[i].status); c.Class != want {
			t.Errorf("cell %d: class %q, want %q (oldest left)", i, c.Class, want)
		}
		id, err := strconv.Atoi(strings.TrimPrefix(c.Href, "/runs/"))
		if err != nil || id <= prevID {
			t.Errorf("cell %d links to %q, want a newer run than the cell before", i, c.Href)
		}
		prevID = id
		if !strings.HasPrefix(c.Title, fmt.Sprintf("#%d 20", id)) || !strings.Contains(c.Title, string(seeded[i].status)) {
			t.Errorf("cell %d title %q", i, c.Title)
		}
		if seeded[i].late > 0 && !strings.Contains(c.Title, "late") {
			t.Errorf("cell %d title %q lacks the start lateness", i, c.Title)
		}
	}
	// The cells are painted by the stylesheet, not left at the default.
	fills := chromedpRun(b, chromedp.Evaluate[map[string]string](`Object.fromEntries(['succeeded','failed','missed','skipped','timed_out'].map(s =>
		[s, getComputedStyle(document.querySelector('#strip rect.c-' + s)).fill]))`))
	seen := map[string]string{}
	for st, f := range fills {
		if f == "" || f == "rgb(195, 202, 212)" {
			t.Errorf("%s cells have the default fill %q", st, f)
		}
		seen[f] += st + " "
	}
	if fills["succeeded"] == fills["failed"] || fills["missed"] == fills["succeeded"] {
		t.Errorf("statuses share a color: %v", seen)
	}

	// The charts: a bar per run that started and ended, percentile lines.
	timed := 0
	for _, r := range seeded {
		if r.dur > 0 {
			timed++
		}
	}
	for _, id := range []string{"duration-chart", "lateness-chart"} {
		n := chromedpRun(b, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('#%s rect.bar').length`, id)))
		if n != timed {
			t.Errorf("%s has %d bars, want %d", id, n, timed)
		}
		box := chromedpRun(b, chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => { const r = document.getElementById(%q).getBoundingClientRect(); return [r.width, r.height]; })()`, id)))
		if box[0] < 300 || box[1] < 100 {
			t.Errorf("%s is drawn %vx%v", id, box[0], box[1])
		}
	}
	marks := chromedpRun(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#duration-chart g.mark > title'), t => t.textContent)`))
	if len(marks) != 3 || !strings.HasPrefix(marks[0], "p50 of duration: ") || !strings.HasPrefix(marks[2], "p99 of duration: ") {
		t.Errorf("duration marks %q", marks)
	}
	// The timeout (90 s) is the longest run: p99 of 45 runs is the 45th
	// value, the maximum.
	if s := b.text("#duration-stats"); !strings.Contains(s, "p99 1m30s") || !strings.Contains(s, "p50 ") || !strings.Contains(s, "p95 ") {
		t.Errorf("duration stats %q, want p99 1m30s", s)
	}
	if s := b.text("#lateness-stats"); !strings.Contains(s, "p99 2s") {
		t.Errorf("lateness stats %q, want p99 2s", s)
	}
	png := b.screenshot("job-history")

	b.open("/jobs/never-ran")
	if s := b.text("#no-runs"); !strings.HasPrefix(s, "No runs yet") {
		t.Errorf("never-ran: %q, want the empty state", s)
	}
	if n := chromedpRun(b, chromedp.Evaluate[int](`document.querySelectorAll('svg.strip, svg.chart').length`)); n != 0 {
		t.Errorf("never-ran shows %d pictures", n)
	}

	b.open("/")
	strip := func(job string) []string {
		return chromedpRun(b, chromedp.Evaluate[[]string](fmt.Sprintf(`Array.from(document.querySelectorAll('#job-%s td.recent rect.cell'), r => r.getAttribute('class'))`, job)))
	}
	etl := strip("nightly-etl")
	if len(etl) != 20 {
		t.Fatalf("jobs list: nightly-etl strip has %d cells, want the last 20 runs", len(etl))
	}
	for i, c := range etl {
		if want := "cell c-" + string(seeded[len(seeded)-20+i].status); c != want {
			t.Errorf("jobs list cell %d: %q, want %q", i, c, want)
		}
	}
	if p := strip("publish"); len(p) != 1 {
		t.Errorf("jobs list: publish strip %v, want its one run", p)
	}
	rows := byFirstLine(b.table("jobs"), "Job")
	if r := rows["never-ran"]["Recent runs"]; r != "no runs yet" {
		t.Errorf("jobs list: never-ran recent runs %q", r)
	}
	b.screenshot("jobs-strips")

	if os.Getenv(envUpdateScreenshots) == "1" && !t.Failed() {
		path := filepath.Join(repoRoot(t), historyScreenshot)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the pages logged console errors:\n%s", strings.Join(errs, "\n"))
	}
}
