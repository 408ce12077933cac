package browsertest

import (
	"strings"
	"testing"

	"github.com/tock-sched/tock/jobs"
)

// depsDashboardConfig: extract has no schedule that fires during the test;
// load follows it, report follows load on any outcome, audit joins extract
// and load per tick (so a manual run of extract never starts it).
const depsDashboardConfig = `
defaults:
  timeout: 1m
jobs:
  - name: extract
    schedule: "0 0 1 1 *"
    shell: "echo extracted"
  - name: load
    after: [extract]
    shell: "echo loaded"
  - name: report
    after: [{job: load, on: completed}]
    shell: "echo reported"
  - name: audit
    schedule: "0 0 1 1 *"
    after: [extract, load]
    shell: "echo audited"
`

// TestDependenciesInBrowser: a triggered upstream run starts its
// dependents; the run pages link upstream and downstream runs both ways
// (plain links, no script), and the job page shows the dependency graph.
func TestDependenciesInBrowser(t *testing.T) {
	exe := chromiumPath(t)
	tock := startReplica(t, depsDashboardConfig)
	b := startBrowser(t, exe, tock.url)

	b.open("/")
	rows := byFirstLine(b.table("jobs"), "Job")
	if s := rows["load"]["Schedule"]; s != "after extract" {
		t.Errorf("jobs page, schedule of load: %q, want after extract", s)
	}
	b.submit(`#job-extract button[name="trigger"]`)
	up := strings.TrimPrefix(b.location().Path, "/runs/")

	// The chain runs: extract's run page lists load's run downstream.
	b.eventually("extract's run to have a downstream run", func() (bool, string) {
		b.open("/runs/" + up)
		f := b.facts()
		return strings.Contains(f["Downstream runs"], "load"), f["Downstream runs"]
	})
	b.submit(`#downstream-runs a`)
	if f := b.facts(); f["Job"] == "" || !strings.HasPrefix(f["Job"], "load") || f["Trigger"] != string(jobs.TriggerDependency) ||
		!strings.HasPrefix(f["Upstream runs"], "#"+up+" extract") {
		t.Errorf("page of load's run: %v", f)
	}
	b.screenshot("run-dependency")
	loadRun := strings.TrimPrefix(b.location().Path, "/runs/")
	b.eventually("load's run to start report", func() (bool, string) {
		b.open("/runs/" + loadRun)
		f := b.facts()
		return strings.Contains(f["Downstream runs"], "report"), f["Downstream runs"]
	})
	// Upstream link back to extract's run.
	b.submit(`#upstream-runs a`)
	if got := strings.TrimPrefix(b.location().Path, "/runs/"); got != up {
		t.Errorf("load's upstream link led to run %s, want %s", got, up)
	}

	// The job page: upstream and downstream edges around load.
	b.open("/jobs/load")
	upEdges, downEdges := b.text("#upstream"), b.text("#downstream")
	if !strings.Contains(upEdges, "extract → load on success") {
		t.Errorf("load's upstream graph: %q", upEdges)
	}
	for _, e := range []string{"load → report on completed", "load → audit on success"} {
		if !strings.Contains(downEdges, e) {
			t.Errorf("load's downstream graph lacks %q: %q", e, downEdges)
		}
	}
	b.submit(`#downstream a[href="/jobs/report"]`)
	if h := b.text("h1"); !strings.HasPrefix(h, "Job report") || !strings.Contains(b.text("#upstream"), "extract → load on success") {
		t.Errorf("report's page: %q, upstream %q (want the chain through load)", h, b.text("#upstream"))
	}
	b.screenshot("job-graph")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the pages logged console errors:\n%s", strings.Join(errs, "\n"))
	}
}
