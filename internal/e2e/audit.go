package e2e

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

const (
	// listPage is the page size of ListWindow.
	listPage = 500
	// DefaultStuckAfter is AuditParams.StuckAfter's default.
	DefaultStuckAfter = 20 * time.Second
	// maxProblems caps the examples a Report keeps.
	maxProblems = 20
)

// AuditParams say what Audit checks.
type AuditParams struct {
	// Jobs are the jobs whose ticks are accounted for, from the config the
	// replicas run (their Next gives the ticks).
	Jobs []*jobs.Job
	// From and To bound the window: ticks t with From <= t < To.
	From, To time.Time
	// Now is the audit time. Default time.Now().
	Now time.Time
	// StuckAfter: a row still scheduled, queued or running whose last
	// visible progress (created, not_before, started) is older than this at
	// Now counts as stuck; a younger one as pending. Default 20s.
	StuckAfter time.Duration
}

// Report is what Audit found. Each count covers the ticks of the audited
// jobs in [From, To).
type Report struct {
	From, To time.Time
	Jobs     int
	// TicksExpected is the number of ticks of the jobs' schedules in the
	// window: each must have exactly one schedule or catch-up row (I1).
	TicksExpected int
	// Rows is the number of schedule and catch-up rows for those ticks.
	Rows int
	// Runs are the rows that became runs (neither missed nor skipped).
	Runs int
	// Duplicates counts rows beyond the first for one job and tick.
	Duplicates int
	// Missed counts ticks recorded as missed (misfire policy,
	// catchup_window): accounted for, not run.
	Missed int
	// Skipped counts ticks recorded as skipped (forbid overlap).
	Skipped int
	// SilentlyMissing counts ticks with no row at all.
	SilentlyMissing int
	// OffSchedule counts rows whose scheduled_at is not a tick of the job.
	OffSchedule int
	// Pending counts rows not yet terminal but younger than StuckAfter.
	Pending int
	// Stuck counts rows not terminal and older than StuckAfter.
	Stuck int
	// Statuses counts the rows by status.
	Statuses map[jobs.RunStatus]int
	// LostAttempts counts attempts that ended lost (their replica died or
	// stopped heartbeating), and LostRecovered those whose run was retried
	// and then succeeded.
	LostAttempts  int
	LostRecovered int
	// Retried counts runs that took more than one attempt.
	Retried int
	// MaxDispatchGap is the longest time during which no row of the window
	// was written: the largest difference between consecutive distinct
	// created_at values of the schedule and catch-up rows, all jobs
	// together. With jobs firing every second it is about 1s in steady
	// state; a leader change, or an outage of Redis or the store, stretches
	// it to the time between the old leader's last dispatch transaction and
	// the next one (the new leader's catch-up). MaxDispatchGapAt is when that
	// gap began (the last created_at before it).
	MaxDispatchGap   time.Duration
	MaxDispatchGapAt time.Time
	// Problems describes the first few duplicates, missing ticks, stuck
	// and off-schedule rows.
	Problems []string
}

// Clean reports whether the window has no duplicate, no silently missing
// tick, no off-schedule row and nothing stuck.
func (r Report) Clean() bool {
	return r.Duplicates == 0 && r.SilentlyMissing == 0 && r.OffSchedule == 0 && r.Stuck == 0
}

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// Print writes the report, one figure a line.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "window                  %s .. %s (%s)\n", r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), r.To.Sub(r.From))
	fmt.Fprintf(w, "jobs                    %d\n", r.Jobs)
	fmt.Fprintf(w, "ticks expected          %d\n", r.TicksExpected)
	fmt.Fprintf(w, "history rows            %d\n", r.Rows)
	fmt.Fprintf(w, "runs                    %d\n", r.Runs)
	fmt.Fprintf(w, "duplicates              %d\n", r.Duplicates)
	fmt.Fprintf(w, "missed (recorded)       %d\n", r.Missed)
	fmt.Fprintf(w, "skipped (recorded)      %d\n", r.Skipped)
	fmt.Fprintf(w, "silently missing        %d\n", r.SilentlyMissing)
	fmt.Fprintf(w, "off-schedule rows       %d\n", r.OffSchedule)
	fmt.Fprintf(w, "stuck                   %d (pending %d)\n", r.Stuck, r.Pending)
	fmt.Fprintf(w, "lost attempts           %d\n", r.LostAttempts)
	fmt.Fprintf(w, "lost attempts recovered %d\n", r.LostRecovered)
	fmt.Fprintf(w, "runs retried            %d\n", r.Retried)
	fmt.Fprintf(w, "max dispatch gap        %s (from %s)\n", r.MaxDispatchGap.Round(time.Millisecond), r.MaxDispatchGapAt.UTC().Format("15:04:05.000"))
	fmt.Fprintf(w, "statuses               ")
	for _, s := range jobs.AllStatuses {
		if n := r.Statuses[s]; n > 0 {
			fmt.Fprintf(w, " %s=%d", s, n)
		}
	}
	fmt.Fprintln(w)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
}

// scheduleLike reports whether a row with this trigger stands for a tick of
// the schedule (UNIQUE(job, scheduled_at) holds for these, I1).
func scheduleLike(t jobs.Trigger) bool {
	return t == jobs.TriggerSchedule || t == jobs.TriggerCatchup
}

// ListWindow returns every run scheduled in [since, until) (until zero: no
// upper bound), newest first, paging through Store.ListRuns with its keyset
// cursor.
func ListWindow(ctx context.Context, st storage.Store, since, until time.Time) ([]jobs.Run, error) {
	var out []jobs.Run
	f := storage.RunFilter{Since: since, Until: until, Limit: listPage}
	for {
		var page []jobs.Run
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
			defer cancel()
			var err error
			page, err = st.ListRuns(ctx, f)
			return err
		}()
		if err != nil {
			return nil, fmt.Errorf("listing runs scheduled since %s: %w", since.UTC().Format(time.RFC3339), err)
		}
		if len(page) == 0 {
			return out, nil
		}
		for _, r := range page {
			// The store's bounds are trusted only as far as the pages go.
			if r.ScheduledAt.Before(since) || !until.IsZero() && !r.ScheduledAt.Before(until) {
				continue
			}
			out = append(out, r)
		}
		last := page[len(page)-1]
		f.Before = &storage.Cursor{ScheduledAt: last.ScheduledAt, ID: last.ID}
	}
}

// Audit checks that every tick of p.Jobs in [p.From, p.To) has exactly one
// schedule or catch-up row in st, and reports what it found (see Report).
// Manual runs are not ticks and are ignored.
func Audit(ctx context.Context, st storage.Store, p AuditParams) (Report, error) {
	if p.Now.IsZero() {
		p.Now = time.Now()
	}
	if p.StuckAfter <= 0 {
		p.StuckAfter = DefaultStuckAfter
	}
	rep := Report{From: p.From, To: p.To, Jobs: len(p.Jobs), Statuses: map[jobs.RunStatus]int{}}
	rows, err := ListWindow(ctx, st, p.From, p.To)
	if err != nil {
		return rep, err
	}
	byJob := make(map[string]*jobs.Job, len(p.Jobs))
	for _, j := range p.Jobs {
		byJob[j.Name] = j
	}
	type key struct {
		job string
		at  int64
	}
	seen := map[key][]jobs.Run{}
	var created []time.Time
	for _, r := range rows {
		j := byJob[r.Job]
		if j == nil || !scheduleLike(r.Trigger) {
			continue
		}
		k := key{r.Job, r.ScheduledAt.UnixNano()}
		seen[k] = append(seen[k], r)
		rep.Rows++
		rep.Statuses[r.Status]++
		created = append(created, r.CreatedAt)
		switch r.Status {
		case jobs.StatusMissed:
			rep.Missed++
		case jobs.StatusSkipped:
			rep.Skipped++
		default:
			rep.Runs++
		}
		if !r.Status.Terminal() {
			progress := r.CreatedAt
			for _, t := range []time.Time{r.NotBefore, deref(r.StartedAt)} {
				if t.After(progress) {
					progress = t
				}
			}
			if p.Now.Sub(progress) > p.StuckAfter {
				rep.Stuck++
				rep.problem("stuck: run %d of %s at %s is %s since %s", r.ID, r.Job, r.ScheduledAt.UTC().Format(time.RFC3339), r.Status, progress.UTC().Format(time.RFC3339Nano))
			} else {
				rep.Pending++
			}
		}
		if r.Attempt > 1 || r.Status == jobs.StatusLost {
			if err := auditAttempts(ctx, st, r, &rep); err != nil {
				return rep, err
			}
		}
	}
	for _, j := range p.Jobs {
		for t := j.Next(p.From.Add(-time.Nanosecond)); !t.IsZero() && t.Before(p.To); t = j.Next(t) {
			rep.TicksExpected++
			k := key{j.Name, t.UnixNano()}
			rs := seen[k]
			delete(seen, k)
			switch {
			case len(rs) == 0:
				rep.SilentlyMissing++
				rep.problem("silently missing: %s at %s", j.Name, t.UTC().Format(time.RFC3339))
			case len(rs) > 1:
				rep.Duplicates += len(rs) - 1
				ids := make([]int64, len(rs))
				for i, r := range rs {
					ids[i] = r.ID
				}
				rep.problem("duplicate: %s at %s has runs %v", j.Name, t.UTC().Format(time.RFC3339), ids)
			}
		}
	}
	for k, rs := range seen {
		rep.OffSchedule += len(rs)
		rep.problem("off schedule: %s at %s has %d rows", k.job, time.Unix(0, k.at).UTC().Format(time.RFC3339Nano), len(rs))
	}
	rep.MaxDispatchGap, rep.MaxDispatchGapAt = maxGap(created)
	return rep, nil
}

// auditAttempts counts r's lost attempts and whether a later one succeeded.
func auditAttempts(ctx context.Context, st storage.Store, r jobs.Run, rep *Report) error {
	ctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
	defer cancel()
	_, atts, err := st.GetRun(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("reading attempts of run %d: %w", r.ID, err)
	}
	if len(atts) > 1 {
		rep.Retried++
	}
	lost := 0
	for _, a := range atts {
		if a.Status == jobs.StatusLost {
			lost++
		}
	}
	rep.LostAttempts += lost
	if lost > 0 && r.Status == jobs.StatusSucceeded {
		rep.LostRecovered += lost
	}
	return nil
}

// maxGap returns the largest difference between consecutive distinct times
// and the time it began.
func maxGap(ts []time.Time) (time.Duration, time.Time) {
	sort.Slice(ts, func(a, b int) bool { return ts[a].Before(ts[b]) })
	var gap time.Duration
	var at time.Time
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]); d > gap {
			gap, at = d, ts[i-1]
		}
	}
	return gap, at
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
