package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Dependency keys (runs.dep_key). A dependent run of an upstream tick is
// keyed by the tick, one of a single upstream run without a tick by that
// run's id; UNIQUE (job, dep_key) makes each dependent once (I1 for
// dependencies).
const (
	depKeyTick = "t:"
	depKeyRun  = "r:"
)

// depsLimit is DepsParams.Limit when unset.
const depsLimit = 500

// Values of runs.deps_pending.
const (
	// depsResolved: nothing to decide (no dependents, or all decided).
	depsResolved = 0
	// depsPending: the run's dependents are decided once it ends.
	depsPending = 1
	// depsWaiting: the run ended and a fan-in dependent waits for its
	// other upstreams' runs of the tick.
	depsWaiting = 2
)

// terminalStatuses are the statuses a run ends in, for SQL IN lists.
var terminalStatuses = func() []string {
	var out []string
	for _, st := range jobs.AllStatuses {
		if st.Terminal() {
			out = append(out, string(st))
		}
	}
	return out
}()

// upRow is a run as dependency resolution reads it.
type upRow struct {
	runRow
	Tick   dbTime  `db:"tick_key"`
	DepKey *string `db:"dep_key"`
	// Pending is deps_pending (depsResolved, depsPending, depsWaiting).
	Pending int `db:"deps_pending"`
}

const upCols = runCols + ", tick_key, dep_key, deps_pending"

// tick is the upstream tick the run stands for: its own tick for a
// schedule or catchup run, the tick it inherited for a dependency run of
// a job without a schedule; false for any other run.
func (u *upRow) tick() (time.Time, bool) {
	if u.Tick.Valid {
		return u.Tick.T, true
	}
	if u.DepKey != nil && strings.HasPrefix(*u.DepKey, depKeyTick) {
		us, err := strconv.ParseInt(strings.TrimPrefix(*u.DepKey, depKeyTick), 10, 64)
		if err == nil {
			return time.UnixMicro(us).UTC(), true
		}
	}
	return time.Time{}, false
}

func tickKeyOf(t time.Time) string { return depKeyTick + strconv.FormatInt(t.UnixMicro(), 10) }

// depRow is a dependent row about to be inserted.
type depRow struct {
	newRow
	key       string
	upstreams []int64
}

// ResolveDeps decides the dependents of ended upstream runs in one fenced
// transaction (I2): see storage.Store.ResolveDeps and docs/design.md
// (Dependencies) for the rule. The fence lock serialises leaders, and only
// this method writes dep_key, so the existence checks below stay true until
// the commit; UNIQUE (job, dep_key) is the second guard.
func (s *Store) ResolveDeps(ctx context.Context, p storage.DepsParams) ([]jobs.Run, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = depsLimit
	}
	var out []jobs.Run
	err := s.write(ctx, "resolving dependent runs", func(tx *sqlx.Tx) error {
		out = nil
		if err := s.fence(ctx, tx, p.Epoch); err != nil {
			return err
		}
		// Runs that ended since the last call first, then those that wait
		// for a fan-in's other upstreams (deps_pending 2): a wait never
		// holds up new ends, and the end of the upstream run waited for
		// decides the dependent by itself; re-reading waiting runs only
		// turns them into skipped rows once they waited too long.
		q, args, err := in("SELECT "+upCols+" FROM runs WHERE deps_pending = 1 AND status IN (?) ORDER BY id LIMIT ?",
			terminalStatuses, limit)
		if err != nil {
			return err
		}
		var ups []upRow
		if err := tx.SelectContext(ctx, &ups, q, args...); err != nil {
			return fmt.Errorf("reading ended upstream runs: %w", err)
		}
		var waited []upRow
		if err := tx.SelectContext(ctx, &waited, "SELECT "+upCols+" FROM runs WHERE deps_pending = 2 ORDER BY id LIMIT ?", limit); err != nil {
			return fmt.Errorf("reading waiting upstream runs: %w", err)
		}
		ups = append(ups, waited...)
		if len(ups) == 0 {
			return nil
		}
		now := utc(p.Now)
		r := &resolver{s: s, tx: tx, p: p, now: now, decided: map[string]bool{}}
		var resolved, waiting []int64
		for i := range ups {
			w, err := r.upstream(ctx, &ups[i])
			if err != nil {
				return err
			}
			switch {
			case !w:
				resolved = append(resolved, ups[i].ID)
			case ups[i].Pending == depsPending:
				waiting = append(waiting, ups[i].ID)
			}
		}
		if err := r.insert(ctx); err != nil {
			return err
		}
		for _, set := range []struct {
			ids []int64
			to  int
		}{{resolved, depsResolved}, {waiting, depsWaiting}} {
			if len(set.ids) == 0 {
				continue
			}
			q, args, err := in("UPDATE runs SET deps_pending = ? WHERE id IN (?)", set.to, set.ids)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("marking upstream runs: %w", err)
			}
		}
		for _, d := range r.rows {
			if d.Status == jobs.StatusQueued {
				run := d.run(now)
				run.UpstreamRuns = d.upstreams
				out = append(out, run)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// resolver is the state of one ResolveDeps transaction.
type resolver struct {
	s   *Store
	tx  *sqlx.Tx
	p   storage.DepsParams
	now time.Time
	// decided holds "job\x00key" of the dependents decided in this call.
	decided map[string]bool
	rows    []*depRow
}

// upstream decides the dependents of one ended run and reports whether
// one of them still waits for other upstreams (fan-in).
func (r *resolver) upstream(ctx context.Context, u *upRow) (waiting bool, err error) {
	if r.p.Dependents == nil {
		return false, nil
	}
	tick, hasTick := u.tick()
	for _, d := range r.p.Dependents(u.Job) {
		if d.Deps == nil {
			continue
		}
		if !d.Deps.FanIn() {
			key := depKeyRun + strconv.FormatInt(u.ID, 10)
			if hasTick && d.Schedule == "" {
				// A dependent without a schedule of its own carries the
				// tick, so that its own dependents can join on it.
				key = tickKeyOf(tick)
			}
			up := d.Deps.After[0]
			reason := ""
			if !up.On.Holds(jobs.RunStatus(u.Status), u.Attempt) {
				reason = unmet(up, u.ID, u.Status, u.Attempt)
			}
			if err := r.decide(ctx, d, key, []int64{u.ID}, doneAt(u), reason); err != nil {
				return false, err
			}
			continue
		}
		if !hasTick {
			continue // a fan-in joins only runs of a tick
		}
		w, err := r.join(ctx, d, u, tick)
		if err != nil {
			return false, err
		}
		waiting = waiting || w
	}
	return waiting, nil
}

// join decides fan-in dependent d for tick, now that u (one of its
// upstreams' runs of that tick) ended; it reports whether d waits.
func (r *resolver) join(ctx context.Context, d *jobs.Job, u *upRow, tick time.Time) (bool, error) {
	key := tickKeyOf(tick)
	ids := make([]int64, 0, len(d.Deps.After))
	due := doneAt(u)
	var missing []string
	reason := ""
	for _, up := range d.Deps.After {
		var run *upRow
		if up.Job == u.Job {
			run = u
		} else {
			found, err := r.runOfTick(ctx, up.Job, tick)
			if err != nil {
				return false, err
			}
			run = found
		}
		if run == nil {
			if j := r.job(up.Job); j != nil && j.Schedule != "" && !j.Next(tick.Add(-time.Microsecond)).Equal(tick) {
				// The upstream's schedule has no such tick: the fan-in
				// joins only ticks all of its upstreams have.
				return false, nil
			}
			missing = append(missing, up.Job)
			continue
		}
		st := jobs.RunStatus(run.Status)
		if !st.Terminal() {
			if run.Pending != depsResolved {
				// That run decides d when it ends.
				return false, nil
			}
			missing = append(missing, up.Job)
			continue
		}
		ids = append(ids, run.ID)
		if reason == "" && !up.On.Holds(st, run.Attempt) {
			reason = unmet(up, run.ID, run.Status, run.Attempt)
		}
		if t := doneAt(run); t.After(due) {
			due = t
		}
	}
	if reason == "" && len(missing) > 0 {
		// Wait for the others, up to d's catchup_window after this run
		// ended; then record why d did not run.
		if r.now.Sub(doneAt(u)) <= d.CatchupWindow {
			return true, nil
		}
		reason = fmt.Sprintf("no ended run of upstream %s for tick %s within catchup_window %s",
			strings.Join(quoteAll(missing), ", "), tick.UTC().Format(time.RFC3339), d.CatchupWindow)
	}
	return false, r.decide(ctx, d, key, ids, due, reason)
}

func (r *resolver) job(name string) *jobs.Job {
	if r.p.Job == nil {
		return nil
	}
	return r.p.Job(name)
}

// runOfTick returns job's run of tick: its schedule or catchup row, else
// the dependency row that carries the tick; nil if it has none.
func (r *resolver) runOfTick(ctx context.Context, job string, tick time.Time) (*upRow, error) {
	var rows []upRow
	if err := r.tx.SelectContext(ctx, &rows, "SELECT "+upCols+" FROM runs WHERE job = ? AND tick_key = ?",
		job, r.s.t(tick)); err != nil {
		return nil, fmt.Errorf("reading run of job %q for tick: %w", job, err)
	}
	if len(rows) == 0 {
		if err := r.tx.SelectContext(ctx, &rows, "SELECT "+upCols+" FROM runs WHERE job = ? AND dep_key = ?",
			job, tickKeyOf(tick)); err != nil {
			return nil, fmt.Errorf("reading dependency run of job %q for tick: %w", job, err)
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// decide records dependent d under key unless it already has a row:
// queued when reason is empty, else skipped with reason.
func (r *resolver) decide(ctx context.Context, d *jobs.Job, key string, ups []int64, due time.Time, reason string) error {
	k := d.Name + "\x00" + key
	if r.decided[k] {
		return nil
	}
	r.decided[k] = true
	var n int
	if err := r.tx.GetContext(ctx, &n, "SELECT COUNT(*) FROM runs WHERE job = ? AND dep_key = ?", d.Name, key); err != nil {
		return fmt.Errorf("reading dependent runs of job %q: %w", d.Name, err)
	}
	if n > 0 {
		return nil
	}
	if reason == "" && r.p.Paused != nil && r.p.Paused(d.Name) {
		reason = fmt.Sprintf("job %q is paused", d.Name)
	}
	st := jobs.StatusQueued
	if reason != "" {
		st = jobs.StatusSkipped
	}
	due = utc(due)
	row := &depRow{key: key, upstreams: ups}
	row.newRow = newRow{NewRun: storage.NewRun{Job: text(d.Name), Digest: text(d.Digest), ScheduledAt: due,
		Trigger: jobs.TriggerDependency, Status: st, MaxAttempts: d.MaxAttempts(), NotBefore: due,
		Error: text(reason), Concurrency: d.Concurrency, DepsPending: r.p.Dependents != nil && len(r.p.Dependents(d.Name)) > 0},
		waitsFor: -1}
	// A dependent with run_on labels runs only where they match; of a
	// broadcast job it is one run, shard 0 of 1, like a manual one.
	row.RunOnLabels = text(d.RequiredLabels())
	if d.Broadcast() {
		row.shardTotal = 1
	}
	if st == jobs.StatusQueued {
		row.enqueued = true
	} else {
		row.finishedAt = r.now
	}
	r.rows = append(r.rows, row)
	return nil
}

// insert writes the decided rows: the concurrency policy of each
// dependent job applies to its queued runs as in Dispatch.
func (r *resolver) insert(ctx context.Context) error {
	if len(r.rows) == 0 {
		return nil
	}
	rows := make([]*newRow, len(r.rows))
	for i, d := range r.rows {
		rows[i] = &d.newRow
	}
	if err := r.s.applyPolicies(ctx, r.tx, rows, r.now); err != nil {
		return err
	}
	for i, d := range r.rows {
		if rows[i].waitsFor >= 0 {
			rows[i].Error = fmt.Sprintf(reasonForbid, rows[rows[i].waitsFor].id)
		}
		res, err := r.tx.ExecContext(ctx, "INSERT INTO runs ("+insertRunCols+", dep_key) VALUES "+placeholders(insertRunN+1),
			append(r.s.args(&d.newRow, r.now), d.key)...)
		if err != nil {
			return fmt.Errorf("inserting dependent run of job %q: %w", d.Job, err)
		}
		if d.id, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("reading id of dependent run: %w", err)
		}
		for pos, up := range d.upstreams {
			if _, err := r.tx.ExecContext(ctx, "INSERT INTO run_upstreams (run_id, upstream_id, position) VALUES (?, ?, ?)",
				d.id, up, pos); err != nil {
				return fmt.Errorf("linking dependent run %d to upstream run %d: %w", d.id, up, err)
			}
		}
	}
	return nil
}

// doneAt is when an upstream run ended: a dependent run becomes due then,
// so a dependent that waits to start shows late from that moment.
func doneAt(u *upRow) time.Time {
	if u.FinishedAt.Valid {
		return u.FinishedAt.T
	}
	return u.ScheduledAt.T
}

// unmet explains why an upstream run's end does not start its dependent.
func unmet(up jobs.Upstream, id int64, status string, attempt int) string {
	how := "ended " + status
	if attempt == 0 && status != string(jobs.StatusMissed) && status != string(jobs.StatusSkipped) {
		how += " without running"
	}
	return fmt.Sprintf("upstream %q run %d %s; after: needs %s", up.Job, id, how, up.On)
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strconv.Quote(n)
	}
	return out
}

// runLinks fills a run's upstream and downstream run ids.
func (s *Store) runLinks(ctx context.Context, q sqlx.QueryerContext, run *jobs.Run) error {
	if err := sqlx.SelectContext(ctx, q, &run.UpstreamRuns,
		"SELECT upstream_id FROM run_upstreams WHERE run_id = ? ORDER BY position", run.ID); err != nil {
		return fmt.Errorf("reading upstream runs: %w", err)
	}
	if err := sqlx.SelectContext(ctx, q, &run.DownstreamRuns,
		"SELECT run_id FROM run_upstreams WHERE upstream_id = ? ORDER BY run_id", run.ID); err != nil {
		return fmt.Errorf("reading downstream runs: %w", err)
	}
	if len(run.UpstreamRuns) == 0 {
		run.UpstreamRuns = nil
	}
	if len(run.DownstreamRuns) == 0 {
		run.DownstreamRuns = nil
	}
	return nil
}
