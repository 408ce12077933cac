package browsertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tock-sched/tock/internal/api"
)

// TestRunPageLiveOutput opens the run page of a job that prints a line
// every 100 ms and watches its output grow without a reload (the page's
// script follows the log stream), then end with the final state.
func TestRunPageLiveOutput(t *testing.T) {
	exe := chromiumPath(t)
	gate := filepath.Join(t.TempDir(), "gate")
	tock := startReplica(t, fmt.Sprintf(`
jobs:
  - name: chatty
    schedule: "0 0 1 1 *"
    shell: 'i=0; while [ ! -e %s ]; do i=$((i+1)); echo "line $i"; sleep 0.1; done; echo done'
`, gate))
	resp, err := http.Post(tock.url+"/api/v1/jobs/chatty/trigger", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var run struct {
		ID int64 `json:"id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if err != nil || resp.StatusCode/100 != 2 || run.ID == 0 {
		t.Fatalf("triggering chatty: %d %v", resp.StatusCode, err)
	}
	b := startBrowser(t, exe, tock.url)
	page := fmt.Sprintf("/runs/%d", run.ID)
	// Wait, reloading, until the attempt runs: its page then follows it.
	b.eventually("the attempt to run", func() (bool, string) {
		b.open(page)
		return b.text("#state-1") == "running", b.text("h1")
	})
	// A mark the page keeps until it reloads.
	b.do(chromedp.Evaluate[chromedp.Void](`window.liveMark = true`))
	first := b.text("#output-1")
	b.eventually("the output to grow without a reload", func() (bool, string) {
		out := b.text("#output-1")
		kept := chromedpRun(b, chromedp.Evaluate[bool](`window.liveMark === true`))
		if !kept {
			t.Fatal("the page reloaded while the attempt ran")
		}
		return strings.Count(out, "\n") >= strings.Count(first, "\n")+5, fmt.Sprintf("%d lines", strings.Count(out, "\n"))
	})
	if l, err := http.Get(tock.url + "/api/v1/runs/" + fmt.Sprint(run.ID) + "/logs"); err == nil {
		var logs api.RunLogs
		_ = json.NewDecoder(l.Body).Decode(&logs)
		l.Body.Close()
		if logs.Ended {
			t.Fatalf("the attempt ended before the test let it: %+v", logs)
		}
	}
	b.screenshot("run-live")
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The end event reloads the page with the final state.
	b.eventually("the final state", func() (bool, string) {
		return b.text("#state-1") == "succeeded" && strings.HasSuffix(b.text("#output-1"), "done"), b.text("#state-1")
	})
	if !strings.HasPrefix(b.text("#output-1"), "line 1\nline 2\n") {
		t.Errorf("final output starts %q", b.text("#output-1")[:20])
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors: %v", errs)
	}
}
