package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

func TestJobPageForms(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	r.h.Config = apitest.MustConfig(t, apitest.ConfigYAML+`
  - name: params
    schedule: "@daily"
    command: ["/bin/true"]
    params:
      - {name: day, default: "2026-01-01", pattern: '\d{4}-\d{2}-\d{2}'}
      - {name: customer}
`)
	status, body, _ := r.get(r.c, "/jobs/params")
	if status != http.StatusOK {
		t.Fatalf("job page: %d", status)
	}
	wantContains(t, "job page", body, `name="param.day" value="2026-01-01"`, `name="param.customer" value=""`, `name="at"`,
		`id="backfill-form"`, `name="max_concurrent" value="64"`, "(required)")
	if status, _, _ := r.get(r.c, "/jobs/ghost"); status != http.StatusNotFound {
		t.Errorf("page of an unknown job: %d", status)
	}
	_, jobs1, _ := r.get(r.c, "/")
	wantContains(t, "jobs page", jobs1, `href="/jobs/params#trigger-form"`)

	tok := r.csrf(r.c, "/jobs/params")
	status, body, _ = r.post(r.c, "/jobs/params/trigger", url.Values{"csrf": {tok}, "param.day": {"today"}, "param.customer": {"acme"}})
	if status != http.StatusBadRequest || !strings.Contains(body, `params.day: value &#34;today&#34; does not match pattern`) {
		t.Errorf("trigger with a bad day: %d\n%s", status, body)
	}
	status, _, hdr := r.post(r.c, "/jobs/params/trigger", url.Values{"csrf": {tok}, "param.day": {""}, "param.customer": {"acme"}, "at": {"+1h"}})
	if status != http.StatusSeeOther {
		t.Fatalf("trigger: %d", status)
	}
	runs, err := r.h.Store.ListRuns(context.Background(), storage.RunFilter{Job: "params", Limit: 10})
	if err != nil || len(runs) != 1 || runs[0].Params["customer"] != "acme" || len(runs[0].Params) != 1 ||
		!runs[0].ScheduledAt.Equal(apitest.Now.Add(time.Hour)) {
		t.Fatalf("runs after trigger: %+v %v", runs, err)
	}
	if loc := hdr.Get("Location"); loc != fmt.Sprintf("/runs/%d", runs[0].ID) {
		t.Errorf("redirect to %q", loc)
	}
	_, body, _ = r.get(r.c, hdr.Get("Location"))
	wantContains(t, "run page", body, `id="run-params"`, "customer=acme")

	status, body, _ = r.post(r.c, "/jobs/backup/backfill", url.Values{"csrf": {tok}, "from": {"1h"}, "to": {"30m"}, "max_concurrent": {"2"}})
	if status != http.StatusOK {
		t.Fatalf("backfill: %d\n%s", status, body)
	}
	wantContains(t, "backfill result", body, `id="backfill-created">2<`, `id="backfill-present">3<`, "left to the scheduler 2")
	bf, err := r.h.Store.ListRuns(context.Background(), storage.RunFilter{Job: "backup", Trigger: jobs.TriggerBackfill, Limit: 10})
	if err != nil || len(bf) != 2 {
		t.Fatalf("backfill runs: %v %v", bf, err)
	}
	_, body, _ = r.get(r.c, fmt.Sprintf("/runs/%d", bf[0].ID))
	wantContains(t, "backfill run page", body, fmt.Sprintf(`action="/backfills/%d/cancel"`, bf[0].BackfillID))
	status, _, hdr = r.post(r.c, fmt.Sprintf("/backfills/%d/cancel", bf[0].BackfillID), url.Values{"csrf": {tok}, "job": {"backup"}})
	if status != http.StatusSeeOther || hdr.Get("Location") != "/runs?trigger=backfill&job=backup" {
		t.Errorf("cancel backfill: %d %q", status, hdr.Get("Location"))
	}
	if c, _, _ := r.h.Store.GetRun(context.Background(), bf[0].ID); c.Status != jobs.StatusCanceled {
		t.Errorf("backfill run after the cancel: %s", c.Status)
	}
	status, body, _ = r.post(r.c, "/jobs/backup/backfill", url.Values{"csrf": {tok}, "from": {"1h"}, "to": {"30m"}, "max_concurrent": {"x"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "max_concurrent: want a whole number") {
		t.Errorf("backfill with a bad max_concurrent: %d", status)
	}
	status, body, _ = r.post(r.c, "/jobs/backup/backfill", url.Values{"csrf": {tok}, "from": {"1h"}, "to": {"2026-12-01T00:00:00Z"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "in the future") {
		t.Errorf("backfill into the future: %d", status)
	}
}
