package scheduler

import (
	"fmt"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// tickPlan is what to write for a job's due ticks.
type tickPlan struct {
	runs   []storage.NewRun
	cursor time.Time // the last tick accounted for
}

// planTicks decides the rows for ticks of j (ascending, all ≤ now). A tick at
// most onTime late is an ordinary schedule run. Later ticks are misfires:
// those older than the job's catchup_window are recorded as missed; the rest
// follow its misfire policy (skip: all missed; run_once: the newest runs as a
// catch-up, the others missed; run_all: every one runs as a catch-up). Every
// tick yields exactly one row (I1). jitter returns the delay added to a run's
// not_before.
func planTicks(j *jobs.Job, ticks []time.Time, now time.Time, onTime time.Duration, jitter func(*jobs.Job) time.Duration) tickPlan {
	var p tickPlan
	if len(ticks) == 0 {
		return p
	}
	p.cursor = ticks[len(ticks)-1]
	row := func(t time.Time, trig jobs.Trigger, st jobs.RunStatus, reason string) storage.NewRun {
		r := storage.NewRun{
			Job: j.Name, Digest: j.Digest, ScheduledAt: t, Trigger: trig, Status: st,
			MaxAttempts: j.MaxAttempts(), Error: reason, Concurrency: j.Concurrency,
			// A broadcast tick, catch-up included, is split over the
			// replicas live when it is dispatched (storage.Store.Dispatch).
			RunOnLabels: j.RequiredLabels(), Broadcast: j.Broadcast(),
		}
		if st == jobs.StatusQueued {
			r.NotBefore = t
			if trig == jobs.TriggerCatchup {
				r.NotBefore = now
			}
			if jitter != nil {
				r.NotBefore = r.NotBefore.Add(jitter(j))
			}
		}
		return r
	}
	// Ticks within onTime are dispatched as usual; the rest are misfires.
	var misfires []time.Time
	for _, t := range ticks {
		if now.Sub(t) <= onTime {
			continue
		}
		misfires = append(misfires, t)
	}
	last := -1 // index in misfires of the run_once survivor
	if j.Misfire == jobs.MisfireRunOnce {
		for i := len(misfires) - 1; i >= 0; i-- {
			if now.Sub(misfires[i]) <= j.CatchupWindow {
				last = i
				break
			}
		}
	}
	for i, t := range misfires {
		switch {
		case now.Sub(t) > j.CatchupWindow:
			p.runs = append(p.runs, row(t, jobs.TriggerCatchup, jobs.StatusMissed,
				fmt.Sprintf("tick missed while no leader dispatched; older than catchup_window %s", j.CatchupWindow)))
		case j.Misfire == jobs.MisfireSkip:
			p.runs = append(p.runs, row(t, jobs.TriggerCatchup, jobs.StatusMissed,
				"tick missed while no leader dispatched; misfire policy skip"))
		case j.Misfire == jobs.MisfireRunOnce && i != last:
			p.runs = append(p.runs, row(t, jobs.TriggerCatchup, jobs.StatusMissed,
				fmt.Sprintf("tick missed while no leader dispatched; misfire policy run_once ran %s instead", misfires[last].Format(time.RFC3339))))
		default:
			p.runs = append(p.runs, row(t, jobs.TriggerCatchup, jobs.StatusQueued, ""))
		}
	}
	for _, t := range ticks[len(misfires):] {
		p.runs = append(p.runs, row(t, jobs.TriggerSchedule, jobs.StatusQueued, ""))
	}
	return p
}

// dueTicks lists j's ticks after `after` up to and including now, at most
// max of them (the caller comes back for the rest).
func dueTicks(j *jobs.Job, after, now time.Time, max int) []time.Time {
	var ts []time.Time
	for t := j.Next(after); !t.IsZero() && !t.After(now) && len(ts) < max; t = j.Next(t) {
		ts = append(ts, t)
	}
	return ts
}
