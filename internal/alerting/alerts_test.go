package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/storetest"
)

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

func TestLateVerdict(t *testing.T) {
	t.Parallel()
	const limit = time.Minute
	now := t0.Add(time.Hour)
	queued := func(id int64, tick, notBefore time.Duration) jobs.Run {
		return jobs.Run{ID: id, Status: jobs.StatusQueued, Trigger: jobs.TriggerSchedule,
			ScheduledAt: t0.Add(tick), NotBefore: t0.Add(notBefore)}
	}
	started := func(id int64, tick, notBefore, start time.Duration, attempt int) jobs.Run {
		return jobs.Run{ID: id, Status: jobs.StatusSucceeded, Trigger: jobs.TriggerSchedule, Attempt: attempt,
			ScheduledAt: t0.Add(tick), NotBefore: t0.Add(notBefore), StartedAt: at(start)}
	}
	h := time.Hour
	tests := []struct {
		name    string
		pending []jobs.Run
		recent  []jobs.Run
		want    verdict // detail is checked for a substring
	}{
		{"no history", nil, nil, verdict{}},
		{"only unstarted rows", nil, []jobs.Run{{ID: 1, Status: jobs.StatusMissed, ScheduledAt: t0}}, verdict{}},
		{"pending too long", []jobs.Run{queued(7, h-2*limit, h-2*limit)}, nil,
			verdict{known: true, firing: true, runID: 7, detail: "has waited 2m0s to start"}},
		{"pending exactly alert_late is on time", []jobs.Run{queued(7, h-limit, h-limit)}, nil, verdict{}},
		{"jitter is not lateness", []jobs.Run{queued(7, h-2*limit, h-30*time.Second)}, nil, verdict{}},
		{"retry backoff is not lateness", []jobs.Run{{ID: 7, Status: jobs.StatusQueued, Attempt: 1,
			ScheduledAt: t0, NotBefore: now.Add(time.Minute)}}, nil, verdict{}},
		{"oldest pending run reported", []jobs.Run{queued(8, h-2*limit, h-2*limit), queued(7, h-5*limit, h-5*limit)}, nil,
			verdict{known: true, firing: true, runID: 7, detail: "has waited 5m0s"}},
		{"a claimed run in the pending list is ignored",
			[]jobs.Run{{ID: 7, Status: jobs.StatusRunning, ScheduledAt: t0, NotBefore: t0, StartedAt: at(h)}}, nil, verdict{}},
		{"newest start late", nil, []jobs.Run{started(9, 0, 0, 90*time.Second, 1)},
			verdict{known: true, firing: true, runID: 9, detail: "started 1m30s after it was due"}},
		{"newest start in time", nil, []jobs.Run{started(9, 0, 0, 59*time.Second, 1)},
			verdict{known: true, runID: 9, detail: "started 59s after it was due, within alert_late 1m0s"}},
		{"measured from not-before (jitter)", nil, []jobs.Run{started(9, 0, 50*time.Second, 100*time.Second, 1)},
			verdict{known: true, runID: 9, detail: "started 50s after"}},
		{"retried run measured from its tick", nil, []jobs.Run{started(9, 0, 10*time.Minute, 2*time.Minute, 2)},
			verdict{known: true, firing: true, runID: 9, detail: "started 2m0s after"}},
		{"only the newest started run counts", nil, []jobs.Run{
			{ID: 11, Status: jobs.StatusQueued, ScheduledAt: t0.Add(h)},
			{ID: 10, Status: jobs.StatusSkipped, ScheduledAt: t0.Add(h - time.Minute)},
			started(9, 0, 0, time.Second, 1),
			started(8, -h, -h, 0, 1)}, verdict{known: true, runID: 9, detail: "within"}},
		{"pending beats an on-time start", []jobs.Run{queued(12, h-3*limit, h-3*limit)},
			[]jobs.Run{started(13, h-limit, h-limit, h-limit, 1)},
			verdict{known: true, firing: true, runID: 12, detail: "has waited 3m0s"}},
		{"backfill runs waiting their turn are not late", []jobs.Run{{ID: 15, Status: jobs.StatusScheduled, Trigger: jobs.TriggerBackfill,
			ScheduledAt: t0.Add(-24 * h), NotBefore: t0}}, nil, verdict{}},
		{"manual run waiting since its trigger", []jobs.Run{{ID: 14, Status: jobs.StatusScheduled, Trigger: jobs.TriggerManual,
			ScheduledAt: t0.Add(h - 2*limit)}}, nil, verdict{known: true, firing: true, runID: 14, detail: "(manual,"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := lateVerdict(limit, tc.pending, tc.recent, now)
			if got.known != tc.want.known || got.firing != tc.want.firing || got.runID != tc.want.runID ||
				!strings.Contains(got.detail, tc.want.detail) {
				t.Errorf("lateVerdict = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestFailureScan(t *testing.T) {
	t.Parallel()
	r := func(id int64, s jobs.RunStatus) jobs.Run { return jobs.Run{ID: id, Status: s, Error: "exit status 1"} }
	F, T, L, S := jobs.StatusFailed, jobs.StatusTimedOut, jobs.StatusLost, jobs.StatusSucceeded
	tests := []struct {
		name  string
		want  int
		pages [][]jobs.Run // newest first; the scan ends with end() unless known
		done  bool         // the history ends after the pages
		v     verdict
	}{
		{"empty history", 3, nil, true, verdict{known: true, detail: "no finished run yet"}},
		{"three failures in a row", 3, [][]jobs.Run{{r(9, F), r(8, T), r(7, L), r(6, S)}}, false,
			verdict{known: true, firing: true, runID: 9, detail: "the last 3 runs failed; newest: run 9 failed: exit status 1"}},
		{"one run", 1, [][]jobs.Run{{r(9, T)}}, false,
			verdict{known: true, firing: true, runID: 9, detail: "the last 1 run failed; newest: run 9 timed_out"}},
		{"success breaks the row", 3, [][]jobs.Run{{r(9, F), r(8, F), r(7, S), r(6, F)}}, false,
			verdict{known: true, runID: 7, detail: "run 7 succeeded; 2 failed after it, fewer than alert_failures 3"}},
		{"newest succeeded", 2, [][]jobs.Run{{r(9, S), r(8, F), r(7, F)}}, false,
			verdict{known: true, runID: 9, detail: "run 9 succeeded"}},
		{"unfinished, missed, skipped and canceled rows pass", 2, [][]jobs.Run{{
			r(12, jobs.StatusQueued), r(11, jobs.StatusRunning), r(10, F), r(9, jobs.StatusMissed),
			r(8, jobs.StatusSkipped), r(7, jobs.StatusCanceled), r(6, jobs.StatusScheduled), r(5, F)}}, false,
			verdict{known: true, firing: true, runID: 10, detail: "the last 2 runs failed; newest: run 10"}},
		{"across pages", 3, [][]jobs.Run{{r(9, F), r(8, jobs.StatusMissed)}, {r(7, F)}, {r(6, L), r(5, S)}}, false,
			verdict{known: true, firing: true, runID: 9}},
		{"history too short", 3, [][]jobs.Run{{r(9, F), r(8, F)}}, true,
			verdict{known: true, runID: 9, detail: "2 failed in a row, all the history holds"}},
		{"budget spent", 3, [][]jobs.Run{{r(9, F), r(8, jobs.StatusSkipped)}}, false, verdict{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := failureScan{want: tc.want}
			known := false
			for _, p := range tc.pages {
				if known = f.feed(p); known {
					break
				}
			}
			if !known && tc.done {
				f.end()
			}
			got := f.v
			if got.known != tc.v.known || got.firing != tc.v.firing || got.runID != tc.v.runID ||
				!strings.Contains(got.detail, tc.v.detail) {
				t.Errorf("verdict = %+v\nwant %+v", got, tc.v)
			}
		})
	}
	long := failureScan{want: 1}
	long.feed([]jobs.Run{{ID: 1, Status: F, Error: strings.Repeat("é", 300)}})
	if d := long.v.detail; len(d) > 300 || !strings.HasSuffix(d, "é…") {
		t.Errorf("long error not cut at a rune boundary: %d bytes, ends %q", len(d), d[len(d)-8:])
	}
}

// alertRig is the rig with alert events on a channel.
type alertRig struct {
	*rig
	alerts chan Alert
}

func newAlertRig(t *testing.T, r *rig) *alertRig {
	a := &alertRig{rig: r, alerts: make(chan Alert, 100)}
	r.w.opts.Events.Alert = func(al Alert) { a.alerts <- al }
	return a
}

// idle waits until the Watcher waits on its timer again, so the check the
// last step started has finished.
func (a *alertRig) idle() {
	a.t.Helper()
	select {
	case <-a.clk.BlockUntil(watcherTimers):
	case <-time.After(10 * time.Second):
		a.t.Fatal("the watcher did not go idle")
	}
}

// expect steps the clock by d, then wants exactly the given alert changes.
func (a *alertRig) expect(d time.Duration, want ...Alert) []Alert {
	a.t.Helper()
	before := a.clk.Now()
	a.step(d)
	a.idle()
	var got []Alert
	for {
		select {
		case al := <-a.alerts:
			got = append(got, al)
			continue
		default:
		}
		break
	}
	if len(got) != len(want) {
		a.t.Fatalf("at %s: alerts %+v, want %+v", a.clk.Now().Format(time.TimeOnly), got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.Job != w.Job || g.Kind != w.Kind || g.Firing != w.Firing || (w.RunID != 0 && g.RunID != w.RunID) ||
			!strings.Contains(g.Detail, w.Detail) || g.At.Before(before) || g.At.After(a.clk.Now()) {
			a.t.Errorf("alert %d = %+v, want %+v", i, g, w)
		}
	}
	return got
}

// claim starts run id now, as a worker would.
func (a *alertRig) claim(run jobs.Run) jobs.Run {
	a.t.Helper()
	now := a.clk.Now()
	got, err := storetest.ClaimOne(context.Background(), a.store, storage.ClaimParams{RunID: run.ID, Job: run.Job, Digest: run.Digest,
		Node: "w1", Now: now, LeaseUntil: now.Add(24 * time.Hour)})
	if err != nil {
		a.t.Fatalf("claiming run %d: %v", run.ID, err)
	}
	return got
}

func (a *alertRig) finish(run jobs.Run, status jobs.RunStatus, reason string) jobs.Run {
	a.t.Helper()
	got, err := a.store.Finish(context.Background(), storage.FinishParams{RunID: run.ID, Attempt: run.Attempt, Node: "w1",
		Status: status, FinishedAt: a.clk.Now(), Error: reason})
	if err != nil {
		a.t.Fatalf("finishing run %d: %v", run.ID, err)
	}
	return got
}

// queuedRun returns the job's one queued run.
func (a *alertRig) queuedRun(job string) jobs.Run {
	a.t.Helper()
	runs, err := a.store.ListRuns(context.Background(), storage.RunFilter{Job: job, Status: jobs.StatusQueued, Limit: 10})
	if err != nil {
		a.t.Fatal(err)
	}
	if len(runs) != 1 {
		a.t.Fatalf("job %s has %d queued runs, want 1", job, len(runs))
	}
	return runs[0]
}

const lateConfig = `
jobs:
  - name: l
    schedule: "* * * * *"
    command: ["true"]
    concurrency: allow
    alert_late: 20s
  - name: quiet
    schedule: "* * * * *"
    command: ["true"]
    concurrency: allow
`

func TestAlertLate(t *testing.T) {
	t.Parallel()
	a := newAlertRig(t, newRig(t, lateConfig))
	epoch := a.start() // 12:00:30; checks every 5s from then on

	// 12:01:00 l and quiet fire; nobody works. The check at 12:01:25 sees
	// l's run waiting 25s, more than alert_late; quiet has no alert.
	a.expect(30 * time.Second)
	a.fire(epoch, "l", "quiet")
	a.expect(20 * time.Second)
	r1 := a.queuedRun("l")
	a.expect(5*time.Second, Alert{Job: "l", Kind: AlertLate, Firing: true, RunID: r1.ID, Detail: "has waited 25s to start"})

	// A late start keeps the alert firing: the newest start was late.
	r1 = a.claim(r1) // 12:01:25
	a.expect(10 * time.Second)
	a.finish(r1, jobs.StatusSucceeded, "")

	// 12:02:00 l fires again and starts at once: resolved.
	a.expect(25 * time.Second) // 12:02:00
	a.fire(epoch, "l", "quiet")
	r2 := a.queuedRun("l")
	a.claim(r2)
	a.expect(5*time.Second, Alert{Job: "l", Kind: AlertLate, Firing: false, RunID: r2.ID, Detail: "started 0s after it was due, within alert_late 20s"})

	// 12:03:00 fires; it waits too long again; then alert_late is turned
	// off by a reload: the alert resolves for want of a watcher.
	a.expect(55 * time.Second) // 12:03:00
	a.fire(epoch, "l", "quiet")
	r3 := a.queuedRun("l")
	a.expect(25*time.Second, Alert{Job: "l", Kind: AlertLate, Firing: true, RunID: r3.ID})
	a.cfg.Store(mustConfig(t, strings.Replace(lateConfig, "alert_late: 20s", "alert_late: 0s", 1)))
	a.expect(5*time.Second, Alert{Job: "l", Kind: AlertLate, Firing: false, Detail: "alert_late was turned off"})
}

// hook is a webhook that records the notifications it gets.
type hook struct {
	srv    *httptest.Server
	bodies chan NotificationBody
	tokens chan string
}

func newHook(t *testing.T) *hook {
	h := &hook{bodies: make(chan NotificationBody, 100), tokens: make(chan string, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b NotificationBody
		if err := json.Unmarshal(raw, &b); err != nil || r.Method != http.MethodPost ||
			r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("bad notification %s %q (%v), content type %q", r.Method, raw, err, r.Header.Get("Content-Type"))
		}
		h.tokens <- r.Header.Get("X-Token")
		h.bodies <- b
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) next(t *testing.T) NotificationBody {
	t.Helper()
	select {
	case b := <-h.bodies:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no notification arrived")
	}
	return NotificationBody{}
}

func failuresConfig(url string) string {
	return fmt.Sprintf(`
notify:
  webhook: %q
  headers: {X-Token: t0k3n}
jobs:
  - name: backup
    schedule: "0 0 1 1 *"
    command: ["true"]
    alert_failures: 2
`, url)
}

func TestAlertFailures(t *testing.T) {
	t.Parallel()
	h := newHook(t)
	cfg := failuresConfig(h.srv.URL + "/tock?key=secret")
	a := newAlertRig(t, newRig(t, cfg))
	epoch := a.start()
	ctx := context.Background()
	job := mustConfig(t, cfg).Job("backup")

	// run inserts one run of backup at tick, starts it and ends it.
	tick := t0.Add(-time.Hour)
	run := func(status jobs.RunStatus) jobs.Run {
		t.Helper()
		tick = tick.Add(time.Minute)
		nr := storage.NewRun{Job: "backup", Digest: job.Digest, ScheduledAt: tick, Trigger: jobs.TriggerSchedule,
			Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: a.clk.Now(), Concurrency: jobs.ConcurrencyAllow}
		if status == jobs.StatusMissed || status == jobs.StatusSkipped {
			nr.Status, nr.Error = status, "seeded"
		}
		runs, err := a.store.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: a.clk.Now(), Runs: []storage.NewRun{nr}})
		if err != nil {
			t.Fatal(err)
		}
		if nr.Status != jobs.StatusQueued {
			return jobs.Run{}
		}
		return a.finish(a.claim(runs[0]), status, "exit status 3")
	}

	run(jobs.StatusFailed)
	a.expect(5 * time.Second) // one failure of two
	run(jobs.StatusMissed)
	f2 := run(jobs.StatusTimedOut)
	a.expect(5*time.Second, Alert{Job: "backup", Kind: AlertFailures, Firing: true, RunID: f2.ID,
		Detail: fmt.Sprintf("the last 2 runs failed; newest: run %d timed_out: exit status 3", f2.ID)})

	// Skipped rows and more failures change nothing while it fires.
	run(jobs.StatusSkipped)
	run(jobs.StatusLost)
	a.expect(5 * time.Second)

	s := run(jobs.StatusSucceeded)
	a.expect(5*time.Second, Alert{Job: "backup", Kind: AlertFailures, Firing: false, RunID: s.ID, Detail: "succeeded"})

	// Both changes were posted, in order, with the configured header.
	for _, want := range []struct {
		state string
		run   int64
	}{{AlertFiring, f2.ID}, {AlertResolved, s.ID}} {
		b := h.next(t)
		if b.Alert != "failures" || b.Job != "backup" || b.State != want.state || b.RunID == nil || *b.RunID != want.run ||
			b.Node != "n1" || b.Detail == "" {
			t.Errorf("notification %+v, want %s of run %d", b, want.state, want.run)
		}
		if at, err := time.Parse(time.RFC3339, b.At); err != nil || at.After(t0.Add(time.Hour)) || at.Before(t0) {
			t.Errorf("notification at %q: %v", b.At, err)
		}
		if tok := <-h.tokens; tok != "t0k3n" {
			t.Errorf("X-Token header %q, want the configured one", tok)
		}
	}

	// Fails twice again; then the leader changes: the new leader starts
	// knowing no alert and announces the one that fires again.
	run(jobs.StatusFailed)
	run(jobs.StatusFailed)
	a.expect(5*time.Second, Alert{Job: "backup", Kind: AlertFailures, Firing: true})
	h.next(t)
	a.stop()
	b := newAlertRig(t, newRigOn(t, cfg, a.store, a.clk))
	b.start()
	b.expect(5*time.Second, Alert{Job: "backup", Kind: AlertFailures, Firing: true})
	if n := h.next(t); n.State != AlertFiring {
		t.Errorf("the new leader notified %+v, want firing again", n)
	}
}
