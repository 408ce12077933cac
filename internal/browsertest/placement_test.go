package browsertest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tock-sched/tock/internal/replica"
	"github.com/tock-sched/tock/jobs"
)

const placementConfig = `
defaults: {timezone: UTC, timeout: 1m}
jobs:
  - name: zone-a-report
    schedule: "0 0 1 1 *"
    shell: "echo report"
    run_on: {labels: {zone: a}}
  - name: everywhere
    schedule: "0 0 1 1 *"
    shell: "echo shard $TOCK_SHARD_INDEX of $TOCK_SHARD_TOTAL"
    run_on: {broadcast: true, labels: {zone: a}}
`

// TestPlacementInBrowser: a replica with labels shows them on the cluster
// page; runs of a label-pinned job and of a broadcast job, triggered with
// the buttons, show their labels and shard on the runs list and run page.
func TestPlacementInBrowser(t *testing.T) {
	exe := chromiumPath(t)
	tock := startReplicaWith(t, placementConfig, func(o *replica.Options) { o.Labels = "zone=a,disk=ssd" })
	b := startBrowser(t, exe, tock.url)

	b.eventually("the cluster page to list this replica with its labels", func() (bool, string) {
		b.open("/cluster")
		nodes := b.table("nodes")
		return len(nodes) == 1 && nodes[0]["Labels"] == "disk=ssd,zone=a", fmt.Sprint(nodes)
	})

	runOf := map[string]string{}
	for _, job := range []string{"zone-a-report", "everywhere"} {
		b.open("/")
		b.submit(`#job-` + job + ` button[name="trigger"]`)
		m := runPathRE.FindStringSubmatch(b.location().Path)
		if m == nil {
			t.Fatalf("trigger of %s landed on %s", job, b.location())
		}
		runOf[job] = m[1]
	}
	b.eventually("both runs to succeed", func() (bool, string) {
		b.open("/runs")
		rows := byFirstLine(b.table("runs"), "Run")
		for _, id := range runOf {
			if rows["#"+id]["Status"] != string(jobs.StatusSucceeded) {
				return false, fmt.Sprint(rows)
			}
		}
		return true, ""
	})
	rows := byFirstLine(b.table("runs"), "Run")
	if s := rows["#"+runOf["everywhere"]]["Shard"]; s != "0/1" {
		t.Errorf("runs list: shard of the broadcast run %q, want 0/1", s)
	}
	if s := rows["#"+runOf["zone-a-report"]]["Shard"]; s != "–" {
		t.Errorf("runs list: shard of the pinned job's run %q, want –", s)
	}
	b.open("/runs/" + runOf["everywhere"])
	f := b.facts()
	if !strings.HasPrefix(f["Shard"], "0 of 1") || f["Run on"] != "zone=a" {
		t.Errorf("broadcast run page facts %v", f)
	}
	if out := b.text("#attempt-1 pre.output"); out != "shard 0 of 1" {
		t.Errorf("broadcast run output %q, want its shard", out)
	}
	b.open("/runs/" + runOf["zone-a-report"])
	if f := b.facts(); f["Run on"] != "zone=a" || f["Node"] != nodeID {
		t.Errorf("pinned job's run page facts %v", f)
	}
	b.screenshot("placement")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the pages logged console errors:\n%s", strings.Join(errs, "\n"))
	}
}
