package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// AlertKind names the condition a job alert watches.
type AlertKind string

// Alert kinds.
const (
	// AlertLate fires while a job's runs start later than its alert_late
	// (see lateVerdict for the exact rule).
	AlertLate AlertKind = "late"
	// AlertFailures fires while the last alert_failures finished runs of a
	// job all failed (see failureScan for the exact rule).
	AlertFailures AlertKind = "failures"
)

// Alert states, as logged and notified.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// Bounds of the history one alert check reads.
const (
	// alertPage is the page size of the run listings of one check.
	alertPage = 100
	// alertPendingLimit bounds the queued (and scheduled) runs one late
	// check looks at: the oldest late one is reported.
	alertPendingLimit = 20
	// alertScanBudget bounds the runs one failures check reads looking
	// for alert_failures finished runs among missed, skipped and canceled
	// rows; when it runs out the alert keeps its state.
	alertScanBudget = 1000
	// alertErrorLen bounds a run's error quoted in an alert's detail.
	alertErrorLen = 200
)

// Alert is one change of a job alert's state, announced by the leader once
// when the alert starts firing and once when it resolves.
type Alert struct {
	Job  string
	Kind AlertKind
	// Firing is true when the alert starts, false when it resolves.
	Firing bool
	// Detail says in words what the leader saw.
	Detail string
	// RunID is the run that decided the change, 0 when none did (the
	// job left the config, or the alert was turned off).
	RunID int64
	// At is the leader's clock when it saw the change.
	At time.Time
}

// State is AlertFiring or AlertResolved.
func (a Alert) State() string {
	if a.Firing {
		return AlertFiring
	}
	return AlertResolved
}

// verdict is what one check concludes about one alert.
type verdict struct {
	// known is false when the history read does not tell; the alert then
	// keeps its state.
	known  bool
	firing bool
	detail string
	runID  int64
}

type alertKey struct {
	job  string
	kind AlertKind
}

// alertWatch is one term's alert state: which alerts fire. It lives only in
// the leader's memory, so a new leader starts with none firing and
// announces again every alert that still fires.
type alertWatch struct {
	*Watcher
	n      *notifier
	firing map[alertKey]bool
}

// Run watches the alerts for one leadership term, until ctx ends: every
// Interval it checks the alerts of every job that has one and announces
// each change (log, Events.Alert, and a webhook notification when the
// config has one). The notifier it feeds lives and dies with it: Run
// returns once both stopped. Its signature is scheduler.Options.Term's;
// the epoch is not used.
//
// It only reads the store, so it needs no fencing: an ex-leader that checks
// once more at worst announces what the new leader announces too.
func (wt *Watcher) Run(ctx context.Context, _ int64) {
	n := newNotifier(notifierOptions{
		Node: wt.opts.Node, Clock: wt.opts.Clock, Logger: wt.opts.Logger.With(slog.String("node", wt.opts.Node)),
		Size: wt.opts.NotifyQueue, Backoff: wt.opts.NotifyBackoff,
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.run(ctx)
	}()
	defer wg.Wait()

	w := &alertWatch{Watcher: wt, n: n, firing: map[alertKey]bool{}}
	clock.Loop(ctx, wt.opts.Clock, wt.opts.Interval, func(ctx context.Context) (time.Duration, bool) {
		if err := w.round(ctx); err != nil && ctx.Err() == nil {
			wt.storeError("alerts", err)
			wt.log.Warn("checking job alerts", slog.Any("error", err))
		}
		return wt.opts.Interval, false
	})
}

// round checks every job with an alert against the config in force.
func (w *alertWatch) round(ctx context.Context) error {
	cfg := w.opts.Config()
	now := w.opts.Clock.Now()
	// Alerts whose job left the config, or whose setting was turned off,
	// resolve: nothing watches them any more.
	for key := range w.firing {
		j := cfg.Job(key.job)
		switch {
		case j == nil:
			w.announce(cfg, Alert{Job: key.job, Kind: key.kind, Detail: "the job is no longer in the config", At: now})
		case key.kind == AlertLate && j.AlertLate <= 0, key.kind == AlertFailures && j.AlertFailures <= 0:
			w.announce(cfg, Alert{Job: key.job, Kind: key.kind, Detail: "alert_" + string(key.kind) + " was turned off", At: now})
		}
	}
	for _, j := range cfg.Jobs {
		if j.AlertLate <= 0 && j.AlertFailures <= 0 {
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := w.check(ctx, cfg, j, now); err != nil {
			return err
		}
	}
	return nil
}

// check evaluates one job's alerts.
func (w *alertWatch) check(ctx context.Context, cfg *jobs.Config, j *jobs.Job, now time.Time) error {
	recent, err := w.list(ctx, storage.RunFilter{Job: j.Name, Limit: alertPage})
	if err != nil {
		return err
	}
	if j.AlertLate > 0 {
		// A run that has waited longer than alert_late since it was due
		// has a tick older than that too, so the store filters on it.
		var pending []jobs.Run
		for _, st := range []jobs.RunStatus{jobs.StatusQueued, jobs.StatusScheduled} {
			runs, err := w.list(ctx, storage.RunFilter{Job: j.Name, Status: st, Until: now.Add(-j.AlertLate), Limit: alertPendingLimit})
			if err != nil {
				return err
			}
			pending = append(pending, runs...)
		}
		w.apply(cfg, j.Name, AlertLate, lateVerdict(j.AlertLate, pending, recent, now), now)
	}
	if j.AlertFailures > 0 {
		scan := failureScan{want: j.AlertFailures}
		page, read := recent, 0
		for !scan.feed(page) {
			read += len(page)
			if len(page) < alertPage {
				scan.end() // the job's whole history was read
				break
			}
			if read >= alertScanBudget {
				break
			}
			last := page[len(page)-1]
			page, err = w.list(ctx, storage.RunFilter{Job: j.Name, Limit: alertPage,
				Before: &storage.Cursor{ScheduledAt: last.ScheduledAt, ID: last.ID}})
			if err != nil {
				return err
			}
		}
		w.apply(cfg, j.Name, AlertFailures, scan.v, now)
	}
	return nil
}

func (w *alertWatch) list(ctx context.Context, f storage.RunFilter) ([]jobs.Run, error) {
	runs, err := storecall.Do(ctx, w.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
		return w.opts.Store.ListRuns(ctx, f)
	})
	if err != nil {
		return nil, fmt.Errorf("listing runs of job %s for its alerts: %w", f.Job, err)
	}
	return runs, nil
}

// apply announces the verdict if it changes the alert's state.
func (w *alertWatch) apply(cfg *jobs.Config, job string, kind AlertKind, v verdict, now time.Time) {
	if !v.known || v.firing == w.firing[alertKey{job, kind}] {
		return
	}
	w.announce(cfg, Alert{Job: job, Kind: kind, Firing: v.firing, Detail: v.detail, RunID: v.runID, At: now})
}

// announce records the new state and tells the log, the Events hook and,
// when the config has a webhook, the notifier.
func (w *alertWatch) announce(cfg *jobs.Config, a Alert) {
	key := alertKey{a.Job, a.Kind}
	if a.Firing {
		w.firing[key] = true
	} else {
		delete(w.firing, key)
	}
	attrs := []any{slog.String("job", a.Job), slog.String("alert", string(a.Kind)),
		slog.String("state", a.State()), slog.String("detail", a.Detail)}
	if a.RunID != 0 {
		attrs = append(attrs, slog.Int64("run_id", a.RunID))
	}
	if a.Firing {
		w.log.Error("job alert firing", attrs...)
	} else {
		w.log.Info("job alert resolved", attrs...)
	}
	if w.opts.Events.Alert != nil {
		w.opts.Events.Alert(a)
	}
	if cfg.Notify.Webhook != "" {
		w.n.enqueue(cfg.Notify, a)
	}
}

// dueAt is when a run became due to start: the later of its tick and its
// not-before time (the tick plus jitter, the moment of a manual trigger or
// a catch-up, the end of a retry's backoff).
func dueAt(r jobs.Run) time.Time {
	if r.NotBefore.After(r.ScheduledAt) {
		return r.NotBefore
	}
	return r.ScheduledAt
}

// startDelay is how long after it was due a started run started. The store
// keeps the first attempt's start; a retry moves not-before past it, so a
// retried run is measured from its tick instead.
func startDelay(r jobs.Run) time.Duration {
	due := dueAt(r)
	if due.After(*r.StartedAt) {
		due = r.ScheduledAt
	}
	return max(r.StartedAt.Sub(due), 0)
}

// lateVerdict decides the late alert of a job with alert_late limit.
// pending holds its queued and scheduled runs, recent its newest runs
// (newest first). The job is late when
//
//   - a pending run has waited more than limit since it was due (dueAt), or
//   - its newest run that started (by tick) started more than limit after
//     it was due (startDelay).
//
// It is not late when no pending run waited that long and that newest
// started run started within limit. With neither a late pending run nor a
// started run in recent (a job that has not run lately) nothing is known
// and the alert keeps its state: once late, a job stays late until a run
// starts in time.
func lateVerdict(limit time.Duration, pending, recent []jobs.Run, now time.Time) verdict {
	var worst *jobs.Run
	var worstWait time.Duration
	for i, r := range pending {
		if r.Status != jobs.StatusQueued && r.Status != jobs.StatusScheduled {
			continue // a listing raced a claim; the run started
		}
		if r.Trigger == jobs.TriggerBackfill {
			continue // waits by design, bounded by its max_concurrent
		}
		if wait := now.Sub(dueAt(r)); wait > limit && wait > worstWait {
			worst, worstWait = &pending[i], wait
		}
	}
	if worst != nil {
		return verdict{known: true, firing: true, runID: worst.ID,
			detail: fmt.Sprintf("run %d (%s, due %s) has waited %s to start, more than alert_late %s",
				worst.ID, worst.Trigger, dueAt(*worst).UTC().Format(time.RFC3339), worstWait, limit)}
	}
	for _, r := range recent {
		if r.StartedAt == nil {
			continue
		}
		d := startDelay(r)
		if d > limit {
			return verdict{known: true, firing: true, runID: r.ID,
				detail: fmt.Sprintf("run %d (%s, scheduled %s) started %s after it was due, more than alert_late %s",
					r.ID, r.Trigger, r.ScheduledAt.UTC().Format(time.RFC3339), d, limit)}
		}
		return verdict{known: true, runID: r.ID,
			detail: fmt.Sprintf("run %d started %s after it was due, within alert_late %s", r.ID, d, limit)}
	}
	return verdict{}
}

// failed reports whether a finished run counts as a failure for the
// failures alert: failed, timed_out or lost.
func failed(s jobs.RunStatus) bool {
	return s == jobs.StatusFailed || s == jobs.StatusTimedOut || s == jobs.StatusLost
}

// failureScan decides the failures alert from a job's runs read newest
// first (by tick, whatever their trigger: a manual run that fails is a
// failure of the job too). Only finished runs that say whether the job
// works count: succeeded on one side; failed, timed_out and lost on the
// other. Runs still scheduled, queued or running, and missed, skipped and
// canceled rows, are passed over. The alert fires when the newest want
// runs that count all failed, and resolves as soon as the newest run that
// counts succeeded.
type failureScan struct {
	want     int
	failures int
	newest   jobs.Run // newest failed run
	v        verdict
}

// feed reads the next runs (continuing newest first) and reports whether
// the verdict is known.
func (f *failureScan) feed(runs []jobs.Run) bool {
	for _, r := range runs {
		switch {
		case r.Status == jobs.StatusSucceeded:
			detail := fmt.Sprintf("run %d succeeded", r.ID)
			if f.failures > 0 {
				detail += fmt.Sprintf("; %d failed after it, fewer than alert_failures %d", f.failures, f.want)
			}
			f.v = verdict{known: true, runID: r.ID, detail: detail}
			return true
		case failed(r.Status):
			f.failures++
			if f.failures == 1 {
				f.newest = r
			}
			if f.failures == f.want {
				f.v = verdict{known: true, firing: true, runID: f.newest.ID, detail: f.firingDetail()}
				return true
			}
		}
	}
	return false
}

// end records that the job's history holds no more runs: fewer than want
// failed in a row.
func (f *failureScan) end() {
	detail := "no finished run yet"
	if f.failures > 0 {
		detail = fmt.Sprintf("%d failed in a row, all the history holds, fewer than alert_failures %d", f.failures, f.want)
	}
	f.v = verdict{known: true, runID: f.newest.ID, detail: detail}
}

func (f *failureScan) firingDetail() string {
	runs := "runs"
	if f.want == 1 {
		runs = "run"
	}
	d := fmt.Sprintf("the last %d %s failed; newest: run %d %s", f.want, runs, f.newest.ID, f.newest.Status)
	if e := f.newest.Error; e != "" {
		if len(e) > alertErrorLen {
			n := alertErrorLen
			for n > 0 && !utf8.RuneStart(e[n]) {
				n--
			}
			e = e[:n] + "…"
		}
		d += ": " + e
	}
	return d
}
