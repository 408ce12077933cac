package browsertest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tock-sched/tock/jobs"
)

// formsConfig has a job with params (its output shows what it got) and a
// job that fires every minute, to backfill.
const formsConfig = `
jobs:
  - name: report
    schedule: "0 0 1 1 *"
    shell: 'echo "day=$TOCK_PARAM_DAY customer=$TOCK_PARAM_CUSTOMER"'
    params:
      - {name: day, default: "2026-01-01", pattern: '\d{4}-\d{2}-\d{2}'}
      - {name: customer}
  - name: minutely
    schedule: "* * * * *"
    command: ["true"]
`

// submitStatus clicks a form's button and returns the status of the page
// it leads to.
func (b *browser) submitStatus(button string) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(button)))
	if err != nil {
		b.t.Fatalf("clicking %s: %v", button, err)
	}
	if resp == nil {
		b.t.Fatalf("clicking %s loaded no page", button)
	}
	return resp.Status
}

// TestDashboardTriggerAndBackfillForms uses the job page's forms as an
// operator would: a trigger with params (refused with the field named when
// a value does not fit, then run with them), a trigger for later canceled
// while it waits, and a backfill run twice.
func TestDashboardTriggerAndBackfillForms(t *testing.T) {
	exe := chromiumPath(t)
	tock := startReplica(t, formsConfig)
	b := startBrowser(t, exe, tock.url)

	// The jobs list sends a job with params to its page.
	b.open("/")
	b.submit(`#job-report a[href="/jobs/report#trigger-form"]`)
	if p := b.location().Path; p != "/jobs/report" {
		t.Fatalf("the trigger link of report led to %s", p)
	}
	if v := chromedpRun(b, chromedp.Value(chromedp.CSS(`#trigger-form input[name="param.day"]`))); v != "2026-01-01" {
		t.Errorf("day field = %q, want its default", v)
	}
	b.screenshot("job")

	// A value the pattern refuses: the page says which param, nothing runs.
	b.do(chromedp.SetValue(chromedp.CSS(`#trigger-form input[name="param.day"]`), "tomorrow"),
		chromedp.SetValue(chromedp.CSS(`#trigger-form input[name="param.customer"]`), "acme"))
	if st := b.submitStatus(`#trigger-form button[name="trigger"]`); st != 400 {
		t.Fatalf("trigger with a bad day answered %d", st)
	}
	if e := b.text("#form-error"); !strings.Contains(e, "params.day") || !strings.Contains(e, "does not match pattern") {
		t.Errorf("form error %q, want it to name params.day", e)
	}
	// A required param left empty.
	b.open("/jobs/report")
	if st := b.submitStatus(`#trigger-form button[name="trigger"]`); st != 400 || !strings.Contains(b.text("#form-error"), "params.customer: required") {
		t.Errorf("trigger without customer answered %d: %q", st, b.text("#form-error"))
	}

	b.open("/jobs/report")
	b.do(chromedp.SetValue(chromedp.CSS(`#trigger-form input[name="param.customer"]`), "acme & co"))
	b.submit(`#trigger-form button[name="trigger"]`)
	m := runPathRE.FindStringSubmatch(b.location().Path)
	if m == nil {
		t.Fatalf("trigger landed on %s", b.location())
	}
	b.eventually("the run with params to succeed", func() (bool, string) {
		b.open("/runs/" + m[1])
		return strings.Contains(b.text("h1"), "succeeded"), b.text("main")
	})
	if p := b.text("#run-params"); !strings.Contains(p, "customer=acme & co") || !strings.Contains(p, "day=2026-01-01") {
		t.Errorf("run page params %q", p)
	}
	if out := b.text("#attempt-1 pre.output"); out != "day=2026-01-01 customer=acme & co" {
		t.Errorf("output %q: the job did not get its params", out)
	}
	b.screenshot("run-params")

	// Later: the run waits, scheduled, and is canceled with its button.
	b.open("/jobs/report")
	b.do(chromedp.SetValue(chromedp.CSS(`#trigger-form input[name="param.customer"]`), "later"),
		chromedp.SetValue(chromedp.CSS(`#trigger-form input[name="at"]`), "+1h"))
	b.submit(`#trigger-form button[name="trigger"]`)
	if h := b.text("h1"); !strings.Contains(h, "scheduled") {
		t.Fatalf("run triggered for later: %q", h)
	}
	b.submit(`button[name="cancel"]`)
	if h := b.text("h1"); !strings.Contains(h, string(jobs.StatusCanceled)) {
		t.Errorf("waiting run after cancel: %q", h)
	}

	// Backfill the last 10 minutes of minutely, twice (from a fixed time:
	// a relative one would move between the two).
	from := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Minute).Add(30 * time.Second).Format(time.RFC3339)
	backfill := func(dry bool) (created, present int) {
		t.Helper()
		b.open("/jobs/minutely")
		b.do(chromedp.SetValue(chromedp.CSS(`#backfill-form input[name="from"]`), from),
			chromedp.SetValue(chromedp.CSS(`#backfill-form input[name="max_concurrent"]`), "3"))
		if dry {
			b.do(chromedp.Click(chromedp.CSS(`#backfill-form input[name="dry_run"]`)))
		}
		b.submit(`#backfill-form button[name="backfill"]`)
		c, err1 := strconv.Atoi(b.text("#backfill-created"))
		p, err2 := strconv.Atoi(b.text("#backfill-present"))
		if err1 != nil || err2 != nil {
			t.Fatalf("backfill result: %q", b.text("#backfill-result"))
		}
		return c, p
	}
	wouldCreate, _ := backfill(true)
	created, present := backfill(false)
	// The replica started moments ago: the ticks before it are all
	// missing (at most one tick may have been scheduled meanwhile).
	if created < 9 || created > 10 || wouldCreate != created || present > 1 {
		t.Fatalf("backfill created %d (dry run %d), present %d; want 9 or 10 created", created, wouldCreate, present)
	}
	b.screenshot("backfill")
	id := b.text("#backfill-result h3")
	again, present2 := backfill(false)
	if id2 := b.text("#backfill-result h3"); id2 != id {
		t.Errorf("the same backfill again is %q, the first %q", id2, id)
	}
	if again != 0 || present2 != created+present {
		t.Errorf("second backfill created %d, present %d; want 0 and %d", again, present2, created+present)
	}
	b.eventually("the backfilled runs to succeed", func() (bool, string) {
		b.open("/runs?job=minutely&trigger=backfill&status=succeeded")
		rows := b.table("runs")
		return len(rows) == created, fmt.Sprint(len(rows), " of ", created)
	})
	// The two refused triggers answered 400, which the browser logs.
	var errs []string
	for _, e := range b.consoleErrors() {
		if !strings.Contains(e, "status of 400") || !strings.HasSuffix(e, "/jobs/report/trigger") {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		t.Errorf("the pages logged console errors:\n%s", strings.Join(errs, "\n"))
	}
}
