package e2e

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// RunHistory is a run row with its attempts.
type RunHistory struct {
	Run      jobs.Run
	Attempts []jobs.Attempt
}

// historyReaders is how many GetRun calls CollectHistory has in flight.
const historyReaders = 4

// CollectHistory returns the schedule and catch-up runs scheduled in
// [from, to) of the named jobs (all jobs when jobNames is empty), each with
// its attempts.
func CollectHistory(ctx context.Context, st storage.Store, from, to time.Time, jobNames []string) ([]RunHistory, error) {
	rows, err := ListWindow(ctx, st, from, to)
	if err != nil {
		return nil, err
	}
	var out []RunHistory
	for _, r := range rows {
		if !scheduleLike(r.Trigger) || len(jobNames) > 0 && !slices.Contains(jobNames, r.Job) {
			continue
		}
		out = append(out, RunHistory{Run: r})
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		firstEr error
		next    = make(chan int)
	)
	for range historyReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				cctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
				run, atts, err := st.GetRun(cctx, out[i].Run.ID)
				cancel()
				if err != nil {
					mu.Lock()
					if firstEr == nil {
						firstEr = fmt.Errorf("reading run %d: %w", out[i].Run.ID, err)
					}
					mu.Unlock()
					continue
				}
				out[i].Run, out[i].Attempts = run, atts
			}
		}()
	}
	for i := range out {
		if out[i].Run.Attempt == 0 && out[i].Run.Status.Terminal() {
			continue // missed, skipped, failed unclaimed: no attempt
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return out, firstEr
}

// ExecParams are the inputs of AuditExecutions.
type ExecParams struct {
	// Jobs and [From, To) give the ticks audited, as for Audit.
	Jobs     []*jobs.Job
	From, To time.Time
	// Lines are the execution log (ParseExecLog).
	Lines []ExecLine
	// History are the runs of the window with their attempts
	// (CollectHistory).
	History []RunHistory
	// Events are the replicas' log events (Cluster.LogEvents); the audit
	// uses MsgAttemptLeaseExpired, MsgAttemptFinished, MsgAttemptStopped
	// and MsgAttemptStarted.
	Events []LogEvent
	// LateAfter: a tick whose first execution started this long after it or
	// later counts as Late (use --requeue-after: a doorbell lost and rung
	// again by the reaper makes a run that late).
	LateAfter time.Duration
	// OvertakeAfter: a tick whose first attempt started this long after the
	// first attempt of a later tick (of any job) counts as Overtaken.
	// Default LateAfter/2.
	OvertakeAfter time.Duration
}

// Dist is a distribution of durations.
type Dist struct {
	N             int
	P50, P99, Max time.Duration
}

func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1 // nearest rank
		return s[max(0, min(i, len(s)-1))]
	}
	return Dist{N: len(s), P50: q(0.50), P99: q(0.99), Max: s[len(s)-1]}
}

func (d Dist) String() string {
	if d.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%s/%s (max %s, n=%d)", ms(d.P50), ms(d.P99), ms(d.Max), d.N)
}

// ms formats d in milliseconds, or seconds from 10s on.
func ms(d time.Duration) string {
	if d >= 10*time.Second || d <= -10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// ExecReport is what AuditExecutions found: executions (job bodies, from
// their own start and end lines) checked against history.
//
// An execution is one start line; it completed if its end line exists.
// Times: body lines are true time; a lost attempt's reap time is the
// leader's MsgAttemptLeaseExpired log line (true time, just after the
// commit), else its finished_at; lease deadlines are the attempt's
// lease_until as stored (the time of whoever wrote it).
type ExecReport struct {
	From, To time.Time
	// Ticks is the number of ticks of the jobs in the window.
	Ticks int
	// Executions counts start lines of those ticks; Completed those with
	// an end line.
	Executions, Completed int
	// Duplicates counts executions beyond the first of a tick (start
	// order). Each is one of:
	//   - TrueDuplicates: it overlapped an earlier execution of the tick
	//     (started before that one's end, or before the worker stopped
	//     it), or it or an earlier one started after its attempt's lease
	//     deadline or reap (StartsAfterLease), or it repeats an
	//     attempt, or an earlier execution's result was durably recorded,
	//     or the tick has several runs;
	//   - ReexecCompleted: an earlier execution of the tick ran to its end
	//     but its attempt was lost, its result never durable (a worker
	//     frozen or cut off after the body ended): the retry is allowed
	//     (at-least-once) but the body ran twice;
	//   - ReexecInterrupted: every earlier execution was stopped before
	//     its end, and their attempts were lost before this one started: a
	//     plain retry.
	Duplicates, TrueDuplicates, ReexecCompleted, ReexecInterrupted int
	// StartsAfterLease counts attempts started after their lease deadline
	// (lease_until) or after they were reaped (marked lost): an attempt
	// another worker may already run. An attempt counts when its body's
	// start line, or the worker's MsgAttemptStarted line (it spawned the
	// process; the body may have been killed before it wrote a line), is
	// later than either. StartsAfterReap are those started after the reap.
	StartsAfterLease, StartsAfterReap int
	// Orphans counts start lines of the window whose run or attempt is not
	// in history.
	Orphans int
	// Mismatches counts history that contradicts the executions: a
	// succeeded attempt with no start line, a start line whose job, tick or
	// replica differs from its run or attempt row.
	Mismatches int
	// Unexecuted counts ticks with a run in history but no execution.
	Unexecuted int
	// LostRuns counts runs with a lost attempt or a terminal status other
	// than succeeded (the bodies always exit 0): with no replica
	// stopped or cut off, none may be. CompletedLost counts lost attempts
	// whose body had run to its end: work done and thrown away.
	LostRuns, CompletedLost int
	// Early counts ticks whose first execution started before the tick;
	// Late those whose first attempt started (TockLateness) LateAfter after
	// it or later.
	Early, Late int
	LateAfter   time.Duration
	// Overtaken counts ticks whose first attempt started OvertakeAfter or
	// more after the first attempt of a later tick: a run left behind
	// while the ones after it ran — a doorbell lost until the reaper rang
	// it again, or never rung. Unlike Late it does not count runs that are
	// late because the machine is overloaded and every run waits its turn
	// (then runs start in tick order).
	Overtaken     int
	OvertakeAfter time.Duration
	// Lateness is the first execution's start minus the tick, over ticks
	// with an execution (early ones count as 0): what a job sees.
	Lateness Dist
	// TockLateness is the same from the worker's MsgAttemptStarted line
	// (true time, logged as it starts the job's process; the body's start
	// line when there is none): tock's own lateness, without the time the
	// machine takes to start a process, which on a loaded 2-core machine
	// is anything from a few ms to seconds.
	TockLateness Dist
	// EndToDurable is, for completed executions of succeeded attempts, the
	// time from the body's end line to the worker's MsgAttemptFinished log
	// line (logged once the store accepted the result). NoDurableLine
	// counts those without that line.
	EndToDurable  Dist
	NoDurableLine int
	// Problems describes the first few findings of each kind.
	Problems []string
	kinds    map[string]int
}

func (r *ExecReport) problem(kind, format string, args ...any) {
	if r.kinds == nil {
		r.kinds = map[string]int{}
	}
	r.kinds[kind]++
	if r.kinds[kind] <= 5 && len(r.Problems) < 3*maxProblems {
		r.Problems = append(r.Problems, kind+": "+fmt.Sprintf(format, args...))
	}
}

// Print writes the report, one figure a line.
func (r ExecReport) Print(w io.Writer) {
	fmt.Fprintf(w, "ticks                     %d\n", r.Ticks)
	fmt.Fprintf(w, "executions                %d (%d ran to their end)\n", r.Executions, r.Completed)
	fmt.Fprintf(w, "duplicate executions      %d: true %d, completed-but-unrecorded re-run %d, interrupted re-run %d\n",
		r.Duplicates, r.TrueDuplicates, r.ReexecCompleted, r.ReexecInterrupted)
	fmt.Fprintf(w, "starts after lease/reap   %d (after the reap %d)\n", r.StartsAfterLease, r.StartsAfterReap)
	fmt.Fprintf(w, "orphans                   %d\n", r.Orphans)
	fmt.Fprintf(w, "history mismatches        %d\n", r.Mismatches)
	fmt.Fprintf(w, "unexecuted ticks          %d\n", r.Unexecuted)
	fmt.Fprintf(w, "lost runs                 %d (lost attempts that had completed: %d)\n", r.LostRuns, r.CompletedLost)
	fmt.Fprintf(w, "early / late >= %-9s %d / %d (overtaken by %s or more: %d)\n", r.LateAfter, r.Early, r.Late, r.OvertakeAfter, r.Overtaken)
	fmt.Fprintf(w, "start lateness p50/p99    %s (body); %s (tock: attempt started)\n", r.Lateness, r.TockLateness)
	fmt.Fprintf(w, "body end -> durable       %s (no durable line: %d)\n", r.EndToDurable, r.NoDurableLine)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
}

// execution is one body run: a start line and its end, if any.
type execution struct {
	start ExecLine
	end   *time.Time
	// stopped is when the worker said it stopped the attempt (no end line).
	stopped *time.Time
	// afterLease and afterReap: started after its attempt's deadline.
	afterLease, afterReap bool
	att                   *jobs.Attempt
}

// stopTime is the latest the body can have run to, and false if unknown.
func (e *execution) stopTime() (time.Time, bool) {
	switch {
	case e.end != nil:
		return *e.end, true
	case e.stopped != nil:
		return *e.stopped, true
	}
	return time.Time{}, false
}

type attKey struct {
	run int64
	att int
}

type tickKey struct {
	job string
	at  int64
}

// AuditExecutions checks the executions of the window's ticks against
// history; see ExecReport.
func AuditExecutions(p ExecParams) ExecReport {
	if p.OvertakeAfter <= 0 {
		p.OvertakeAfter = p.LateAfter / 2
	}
	rep := ExecReport{From: p.From, To: p.To, LateAfter: p.LateAfter, OvertakeAfter: p.OvertakeAfter}
	byJob := map[string]*jobs.Job{}
	for _, j := range p.Jobs {
		byJob[j.Name] = j
	}
	var ticks []tickKey
	inWindow := map[tickKey]bool{}
	for _, j := range p.Jobs {
		for t := j.Next(p.From.Add(-time.Nanosecond)); !t.IsZero() && t.Before(p.To); t = j.Next(t) {
			k := tickKey{j.Name, t.UnixNano()}
			ticks = append(ticks, k)
			inWindow[k] = true
		}
	}
	rep.Ticks = len(ticks)

	// History.
	runs := map[int64]*RunHistory{}
	runsOfTick := map[tickKey][]*RunHistory{}
	atts := map[attKey]*jobs.Attempt{}
	for i := range p.History {
		h := &p.History[i]
		k := tickKey{h.Run.Job, h.Run.ScheduledAt.UnixNano()}
		if !inWindow[k] {
			continue
		}
		runs[h.Run.ID] = h
		runsOfTick[k] = append(runsOfTick[k], h)
		for j := range h.Attempts {
			a := &h.Attempts[j]
			atts[attKey{a.RunID, a.Number}] = a
		}
	}

	// Log events.
	reaped := map[attKey]time.Time{}
	durable := map[attKey]time.Time{}
	stopped := map[attKey]time.Time{}
	startedLog := map[attKey]time.Time{}
	earliest := func(m map[attKey]time.Time, k attKey, t time.Time) {
		if old, ok := m[k]; !ok || t.Before(old) {
			m[k] = t
		}
	}
	for _, ev := range p.Events {
		k := attKey{ev.RunID, ev.Attempt}
		switch ev.Msg {
		case MsgAttemptLeaseExpired:
			earliest(reaped, k, ev.Time)
		case MsgAttemptFinished:
			if a := atts[k]; a != nil && a.Node == ev.Replica {
				earliest(durable, k, ev.Time)
			}
		case MsgAttemptStopped:
			if a := atts[k]; a != nil && a.Node == ev.Replica {
				earliest(stopped, k, ev.Time)
			}
		case MsgAttemptStarted:
			if a := atts[k]; a != nil && a.Node == ev.Replica {
				earliest(startedLog, k, ev.Time)
			}
		}
	}
	reapTime := func(a *jobs.Attempt) (time.Time, bool) {
		if a.Status != jobs.StatusLost {
			return time.Time{}, false
		}
		if t, ok := reaped[attKey{a.RunID, a.Number}]; ok {
			return t, true
		}
		if a.FinishedAt != nil {
			return *a.FinishedAt, true
		}
		return time.Time{}, false
	}

	// Executions: pair each end line with the earliest open start of the
	// same attempt on the same replica.
	type openKey struct {
		run  int64
		att  int
		node string
	}
	lines := slices.Clone(p.Lines)
	sort.SliceStable(lines, func(a, b int) bool { return lines[a].At.Before(lines[b].At) })
	var execs []*execution
	open := map[openKey][]*execution{}
	for _, l := range lines {
		k := tickKey{l.Job, l.ScheduledAt.UnixNano()}
		if !inWindow[k] {
			continue
		}
		ok := openKey{l.RunID, l.Attempt, l.Node}
		if !l.End {
			e := &execution{start: l}
			execs = append(execs, e)
			open[ok] = append(open[ok], e)
			continue
		}
		if q := open[ok]; len(q) > 0 {
			at := l.At
			q[0].end = &at
			open[ok] = q[1:]
		} else {
			rep.problem("orphan", "end line of run %d attempt %d on %s with no start", l.RunID, l.Attempt, l.Node)
			rep.Orphans++
		}
	}

	execsOfTick := map[tickKey][]*execution{}
	ran := map[attKey]bool{}
	lateStart := map[attKey]bool{}
	for _, e := range execs {
		l := e.start
		k := tickKey{l.Job, l.ScheduledAt.UnixNano()}
		execsOfTick[k] = append(execsOfTick[k], e)
		rep.Executions++
		if e.end != nil {
			rep.Completed++
		}
		ak := attKey{l.RunID, l.Attempt}
		ran[ak] = true
		h := runs[l.RunID]
		if h == nil {
			rep.Orphans++
			rep.problem("orphan", "%s at %s: run %d attempt %d ran on %s but the run is not in history", l.Job, hms(l.ScheduledAt), l.RunID, l.Attempt, l.Node)
			continue
		}
		if h.Run.Job != l.Job || !h.Run.ScheduledAt.Equal(l.ScheduledAt) {
			rep.Mismatches++
			rep.problem("mismatch", "run %d is %s at %s in history, but its body ran as %s at %s", l.RunID, h.Run.Job, hms(h.Run.ScheduledAt), l.Job, hms(l.ScheduledAt))
		}
		a := atts[ak]
		if a == nil {
			rep.Orphans++
			rep.problem("orphan", "%s at %s: run %d attempt %d ran on %s but history has no such attempt", l.Job, hms(l.ScheduledAt), l.RunID, l.Attempt, l.Node)
			continue
		}
		e.att = a
		if l.Node != "-" && a.Node != l.Node {
			rep.Mismatches++
			rep.problem("mismatch", "run %d attempt %d is on %s in history, but its body ran on %s", l.RunID, l.Attempt, a.Node, l.Node)
		}
		if t, ok := stopped[ak]; ok && e.end == nil {
			e.stopped = &t
		}
		if l.At.After(a.LeaseUntil) {
			e.afterLease = true
		}
		if t, ok := reapTime(a); ok && l.At.After(t) {
			e.afterReap = true
		}
		if e.afterLease || e.afterReap {
			if lateStart[ak] {
				continue // this attempt is counted already
			}
			lateStart[ak] = true
			rep.StartsAfterLease++
			if e.afterReap {
				rep.StartsAfterReap++
			}
			rt, _ := reapTime(a)
			rep.problem("start after lease/reap", "%s at %s: run %d attempt %d started on %s at %s; lease until %s, status %s, reaped %s",
				l.Job, hms(l.ScheduledAt), l.RunID, l.Attempt, l.Node, hmsm(l.At), hmsm(a.LeaseUntil), a.Status, hmsmOr(rt))
		}
	}

	// Attempts the worker started (spawned) after their lease or reap
	// whose body left no start line: killed before it wrote one.
	spawned := make([]attKey, 0, len(startedLog))
	for ak := range startedLog {
		spawned = append(spawned, ak)
	}
	sort.Slice(spawned, func(i, j int) bool {
		return spawned[i].run < spawned[j].run || spawned[i].run == spawned[j].run && spawned[i].att < spawned[j].att
	})
	for _, ak := range spawned {
		t, a := startedLog[ak], atts[ak]
		if a == nil || lateStart[ak] {
			continue
		}
		rt, reapedOK := reapTime(a)
		afterReap := reapedOK && t.After(rt)
		if !afterReap && !t.After(a.LeaseUntil) {
			continue
		}
		lateStart[ak] = true
		rep.StartsAfterLease++
		if afterReap {
			rep.StartsAfterReap++
		}
		what := "its body left no start line (killed first?)"
		if ran[ak] {
			what = "its body started later"
		}
		rep.problem("start after lease/reap", "run %d attempt %d: %s started its process at %s; lease until %s, status %s, reaped %s; %s",
			ak.run, ak.att, a.Node, hmsm(t), hmsm(a.LeaseUntil), a.Status, hmsmOr(rt), what)
	}

	// Duplicates and lateness, tick by tick.
	var lateness, tockLateness []time.Duration
	type firstStart struct {
		k  tickKey
		at time.Time
	}
	var firsts []firstStart
	for _, k := range ticks {
		es := execsOfTick[k]
		tick := time.Unix(0, k.at)
		if len(es) == 0 {
			if len(runsOfTick[k]) > 0 {
				rep.Unexecuted++
			}
			continue
		}
		sort.SliceStable(es, func(a, b int) bool { return es[a].start.At.Before(es[b].start.At) })
		d := es[0].start.At.Sub(tick)
		if d < 0 {
			rep.Early++
			rep.problem("early", "%s at %s first started %s early on %s", k.job, hms(tick), ms(-d), es[0].start.Node)
			d = 0
		}
		var first time.Time
		for _, e := range es {
			t, ok := startedLog[attKey{e.start.RunID, e.start.Attempt}]
			if !ok {
				t = e.start.At
			}
			if first.IsZero() || t.Before(first) {
				first = t
			}
		}
		td := max(first.Sub(tick), 0)
		tockLateness = append(tockLateness, td)
		firsts = append(firsts, firstStart{k, first})
		if p.LateAfter > 0 && td >= p.LateAfter {
			rep.Late++
			rep.problem("late", "%s at %s: first attempt started %s late (its body %s late) on %s", k.job, hms(tick), ms(td), ms(d), es[0].start.Node)
		}
		lateness = append(lateness, d)
		for i := 1; i < len(es); i++ {
			e := es[i]
			rep.Duplicates++
			why := ""
			completedLost := false
			for _, prev := range es[:i] {
				if st, ok := prev.stopTime(); ok && e.start.At.Before(st) && why == "" {
					why = fmt.Sprintf("overlaps attempt %d on %s", prev.start.Attempt, prev.start.Node)
				}
				switch {
				case why != "":
				case prev.start.RunID != e.start.RunID:
					why = fmt.Sprintf("runs %d and %d for one tick", prev.start.RunID, e.start.RunID)
				case prev.start.Attempt == e.start.Attempt:
					why = fmt.Sprintf("attempt %d ran twice", e.start.Attempt)
				case prev.afterLease || prev.afterReap:
					why = fmt.Sprintf("attempt %d had started on %s after its lease or reap", prev.start.Attempt, prev.start.Node)
				case prev.end != nil && prev.att != nil && prev.att.Status == jobs.StatusSucceeded:
					why = fmt.Sprintf("attempt %d had succeeded", prev.start.Attempt)
				}
				if prev.end != nil && prev.att != nil && prev.att.Status == jobs.StatusLost {
					completedLost = true
				}
			}
			if why == "" && (e.afterLease || e.afterReap) {
				why = "started after its lease or reap"
			}
			switch {
			case why != "":
				rep.TrueDuplicates++
				rep.problem("true duplicate", "%s at %s: run %d attempt %d on %s at %s: %s", k.job, hms(tick), e.start.RunID, e.start.Attempt, e.start.Node, hmsm(e.start.At), why)
			case completedLost:
				rep.ReexecCompleted++
				rep.problem("re-run of a completed body", "%s at %s: run %d attempt %d on %s re-ran a body whose attempt was lost after it ended", k.job, hms(tick), e.start.RunID, e.start.Attempt, e.start.Node)
			default:
				rep.ReexecInterrupted++
			}
		}
	}
	rep.Lateness = distOf(lateness)
	rep.TockLateness = distOf(tockLateness)
	// Overtaken: compare each tick's first start with the earliest first
	// start of any later tick.
	sort.Slice(firsts, func(a, b int) bool { return firsts[a].k.at < firsts[b].k.at })
	var laterMin time.Time
	var laterTick int64
	for i := len(firsts) - 1; i >= 0; {
		j := i
		for j >= 0 && firsts[j].k.at == firsts[i].k.at {
			j--
		}
		for _, f := range firsts[j+1 : i+1] {
			if !laterMin.IsZero() && f.at.Sub(laterMin) >= p.OvertakeAfter {
				rep.Overtaken++
				rep.problem("overtaken", "%s at %s: first attempt started %s after the first of %s had", f.k.job, hms(time.Unix(0, f.k.at)),
					ms(f.at.Sub(laterMin)), hms(time.Unix(0, laterTick)))
			}
		}
		for _, f := range firsts[j+1 : i+1] {
			if laterMin.IsZero() || f.at.Before(laterMin) {
				laterMin, laterTick = f.at, f.k.at
			}
		}
		i = j
	}

	// History against executions.
	var toDurable []time.Duration
	endOf := map[attKey]*execution{}
	for _, e := range execs {
		if e.end != nil {
			endOf[attKey{e.start.RunID, e.start.Attempt}] = e
		}
	}
	for _, k := range ticks {
		for _, h := range runsOfTick[k] {
			r := h.Run
			if r.Status == jobs.StatusMissed || r.Status == jobs.StatusSkipped {
				continue
			}
			lost := r.Status.Terminal() && r.Status != jobs.StatusSucceeded
			for _, a := range h.Attempts {
				ak := attKey{a.RunID, a.Number}
				if a.Status == jobs.StatusLost {
					lost = true
					if endOf[ak] != nil {
						rep.CompletedLost++
					}
				}
				if a.Status == jobs.StatusSucceeded && !ran[ak] {
					rep.Mismatches++
					rep.problem("mismatch", "%s at %s: run %d attempt %d succeeded on %s but its body never started", r.Job, hms(r.ScheduledAt), r.ID, a.Number, a.Node)
				}
				if e := endOf[ak]; e != nil && a.Status == jobs.StatusSucceeded {
					if t, ok := durable[ak]; ok {
						toDurable = append(toDurable, t.Sub(*e.end))
					} else {
						rep.NoDurableLine++
					}
				}
			}
			if lost {
				rep.LostRuns++
				rep.problem("lost run", "%s at %s: run %d is %s after %d attempts", r.Job, hms(r.ScheduledAt), r.ID, r.Status, len(h.Attempts))
			}
		}
	}
	rep.EndToDurable = distOf(toDurable)
	return rep
}

func hms(t time.Time) string  { return t.UTC().Format("15:04:05") }
func hmsm(t time.Time) string { return t.UTC().Format("15:04:05.000") }
func hmsmOr(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return hmsm(t)
}
