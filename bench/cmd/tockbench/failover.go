package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tock-sched/tock/internal/e2e"
	"github.com/tock-sched/tock/jobs"
)

// failover is the outcome of the failover scenario.
type failover struct {
	LeaseTTL time.Duration
	// Jobs is the number of jobs: 20 every second, the rest spread over
	// an hour.
	Jobs int
	// KillToFirst is, per kill -9, the time from the kill to the new
	// leader's first row (created_at).
	KillToFirst []time.Duration
	// Warm and Cold count the new leaders' term starts by kind.
	Warm, Cold int
	// Kill and Term are, per fault, the gap between the old leader's last
	// dispatch and the new leader's first (created_at of the rows).
	Kill, Term []time.Duration
	// KillLate and TermLate are, per fault, how late the new leader
	// dispatched its first tick (created_at - scheduled_at).
	KillLate, TermLate []time.Duration
	// TermHandover is, per SIGTERM, the time from the signal to the new
	// leader's "elected leader" log line.
	TermHandover []time.Duration
	Ticks        int // ticks audited
	Lost         int // ticks without a row (silently missing)
	Duplicates   int
	Stuck        int
}

// dispatchTimes returns, for rows of the window, the last created_at at or
// before t and the first row created after t (its created_at and lateness).
func dispatchAround(ctx context.Context, c *e2e.Cluster, t time.Time) (last, first time.Time, late time.Duration, err error) {
	rows, err := e2e.ListWindow(ctx, c.Store(), t.Add(-10*time.Second), time.Time{})
	if err != nil {
		return
	}
	for _, r := range rows {
		if r.Trigger != jobs.TriggerSchedule && r.Trigger != jobs.TriggerCatchup {
			continue
		}
		switch {
		case !r.CreatedAt.After(t):
			if r.CreatedAt.After(last) {
				last = r.CreatedAt
			}
		case first.IsZero() || r.CreatedAt.Before(first):
			first, late = r.CreatedAt, r.CreatedAt.Sub(r.ScheduledAt)
		}
	}
	return
}

// failoverTock kills (kill -9) and, when term, stops (SIGTERM) the leader
// of three replicas rounds times each, with n jobs (20 firing every second,
// the others spread over an hour), then audits the window for lost and
// duplicate ticks. Before each fault it waits until every standby has
// built its warm schedule.
func (e *tockEnv) failoverTock(ctx context.Context, n, rounds int, term bool) (failover, error) {
	out := failover{LeaseTTL: 3 * time.Second, Jobs: n}
	spec := func(i int) string {
		if i < 20 {
			return everySecond(i)
		}
		sec := (i - 20) * 3600 / max(n-20, 1)
		return fmt.Sprintf("%d %d * * * *", sec%60, sec/60)
	}
	// Parsing and building take about a minute per million jobs and
	// replica, the three replicas sharing the cores.
	wait := 2*time.Minute + time.Duration(n/1000)*time.Second
	d, loaded, err := e.launchN(ctx, fmt.Sprintf("failover-%d", n), n, spec, wait)
	if err != nil {
		return out, err
	}
	defer d.close()
	c := d.cluster
	from := loaded.Truncate(time.Second).Add(2 * time.Second)
	if err := sleepUntil(ctx, from.Add(2*time.Second)); err != nil {
		return out, err
	}
	leader := func() (int, string, int64, error) {
		node, epoch, err := c.WaitLeader(ctx, 10*time.Millisecond, func(n string, _ int64) bool {
			i := c.Index(n)
			return i >= 0 && c.Running(i)
		})
		if err != nil {
			return 0, "", 0, err
		}
		return c.Index(node), node, epoch, nil
	}
	total := rounds
	if term {
		total = 2 * rounds
	}
	standbySince := make([]time.Time, c.Len())
	for i := range standbySince {
		standbySince[i] = loaded.Add(-wait)
	}
	for round := 0; round < total; round++ {
		kill := round < rounds
		i, old, oldEpoch, err := leader()
		if err != nil {
			return out, err
		}
		if err := waitStandbys(ctx, c, i, standbySince, wait); err != nil {
			return out, fmt.Errorf("round %d: %w", round, err)
		}
		// Kill -9 300ms after a tick (the old leader has dispatched it);
		// SIGTERM 100ms before one (the hand-over has 100ms to be on time).
		offset := 300 * time.Millisecond
		if !kill {
			offset = 900 * time.Millisecond
		}
		if err := sleepUntil(ctx, time.Now().Truncate(time.Second).Add(time.Second+offset)); err != nil {
			return out, err
		}
		at := time.Now()
		if kill {
			err = c.Kill9(i)
		} else {
			err = c.Term(i)
		}
		if err != nil {
			return out, err
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		node, epoch, err := c.WaitLeader(wctx, 10*time.Millisecond, func(n string, ep int64) bool { return n != old && ep > oldEpoch })
		if err == nil {
			_, err = c.WaitDispatchAfter(wctx, 20*time.Millisecond, at)
		}
		cancel()
		if err != nil {
			return out, fmt.Errorf("round %d: no new leader dispatching after the fault: %w", round, err)
		}
		last, first, late, err := dispatchAround(ctx, c, at)
		if err != nil {
			return out, err
		}
		gap := first.Sub(last)
		start := "?"
		if j := c.Index(node); j >= 0 {
			log := c.Replica(j).LogPath
			if _, ok, _ := e2e.FindLogEvent(log, e2e.MsgScheduleLoaded, at, `"term_start":true`, `"warm":true`); ok {
				start = "warm"
				out.Warm++
			} else if _, ok, _ := e2e.FindLogEvent(log, e2e.MsgScheduleLoaded, at, `"term_start":true`, `"warm":false`); ok {
				start = "cold"
				out.Cold++
			}
		}
		if kill {
			out.Kill, out.KillLate = append(out.Kill, gap), append(out.KillLate, late)
			out.KillToFirst = append(out.KillToFirst, first.Sub(at))
		} else {
			out.Term, out.TermLate = append(out.Term, gap), append(out.TermLate, late)
			if el, ok, _ := c.ElectedAt(node, epoch); ok {
				out.TermHandover = append(out.TermHandover, el.Sub(at))
			}
		}
		what := map[bool]string{true: "kill -9", false: "SIGTERM"}[kill]
		e.log("  %d jobs, %s of leader %s: %s leads (epoch %d, %s start); kill → first row %s, dispatch gap %s, first tick %s late",
			n, what, old, node, epoch, start, first.Sub(at).Round(time.Millisecond), gap.Round(time.Millisecond), late.Round(time.Millisecond))
		standbySince[i] = time.Now()
		if err := c.Restart(i); err != nil {
			return out, err
		}
		if err := sleepUntil(ctx, time.Now().Add(2*time.Second)); err != nil {
			return out, err
		}
	}
	to := time.Now().Truncate(time.Second).Add(-2 * time.Second)
	// Let the last ticks finish before auditing, and the attempts the last
	// kill cut short (claimed up to a lookahead ahead) be reaped when their
	// lease runs out and run again: only a run still unfinished after that
	// is stuck.
	lease := c.Options().AttemptLease
	if err := sleepUntil(ctx, time.Now().Add(lease+5*time.Second)); err != nil {
		return out, err
	}
	rep, err := e2e.Audit(ctx, c.Store(), e2e.AuditParams{Jobs: c.Jobs(), From: from, To: to, StuckAfter: lease + 10*time.Second})
	if err != nil {
		return out, err
	}
	out.Ticks, out.Lost, out.Duplicates, out.Stuck = rep.TicksExpected, rep.SilentlyMissing, rep.Duplicates, rep.Stuck
	e.log("  audit: %d ticks, %d rows, %d duplicates, %d silently missing, %d stuck",
		rep.TicksExpected, rep.Rows, rep.Duplicates, rep.SilentlyMissing, rep.Stuck)
	return out, nil
}

// waitStandbys waits until every replica but the leader has logged that
// it built its warm schedule since it (re)started.
func waitStandbys(ctx context.Context, c *e2e.Cluster, leader int, since []time.Time, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i := 0; i < c.Len(); i++ {
		if i == leader {
			continue
		}
		for {
			if _, ok, _ := e2e.FindLogEvent(c.Replica(i).LogPath, e2e.MsgStandbyBuilt, since[i]); ok {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s built no standby schedule within %s", c.Replica(i).Name, timeout)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}
