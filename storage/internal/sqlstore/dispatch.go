package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Reasons written on rows that the concurrency policies end.
const (
	reasonReplaced = "replaced by a newer run"
	reasonForbid   = "previous run %d still active (concurrency: forbid)"
)

// insertRunCols are the columns newRow.args fills, in its order.
const insertRunCols = "job, digest, scheduled_at, tick_key, trig, status, max_attempts, " +
	"not_before, created_at, enqueued_at, finished_at, error, shard, shard_total, pinned_node, run_on_labels, deps_pending, params, backfill_id, traceparent"

// insertRunN is the number of insertRunCols.
const insertRunN = 20

// newRow is a run about to be inserted.
type newRow struct {
	storage.NewRun
	// tick says the row occupies its tick: tick_key = scheduled_at (I1).
	tick       bool
	enqueued   bool
	finishedAt time.Time
	// waitsFor is the index, in the batch, of the queued row a forbid
	// skip names in its reason; -1 when the reason is already written.
	waitsFor int
	id       int64
	// shard, shardTotal and pinned place a broadcast shard (placement.go).
	shard, shardTotal int
	pinned            string
	// params and backfill are the params and backfill_id columns.
	params   map[string]string
	backfill int64
}

// tickKey is a row's unique key (I1): a tick of a job, and the shard of a
// broadcast tick (0 otherwise).
type tickKey struct {
	job   string
	at    int64 // Unix microseconds
	shard int
}

func (r *newRow) key() tickKey { return tickKey{r.Job, r.ScheduledAt.UnixMicro(), r.shard} }

func (s *Store) args(r *newRow, now time.Time) []any {
	var tick, enqueued any
	if r.tick {
		tick = s.t(r.ScheduledAt)
	}
	if r.enqueued {
		enqueued = s.t(now)
	}
	var backfill any
	if r.backfill != 0 {
		backfill = r.backfill
	}
	return []any{r.Job, r.Digest, s.t(r.ScheduledAt), tick, string(r.Trigger), string(r.Status), r.MaxAttempts,
		s.t(r.NotBefore), s.t(now), enqueued, s.nt(r.finishedAt), r.Error, r.shard, r.shardTotal, r.pinned, r.RunOnLabels, r.DepsPending, encodeParams(r.params), backfill, traceparentArg(r.Traceparent)}
}

func (r *newRow) run(now time.Time) jobs.Run {
	run := jobs.Run{ID: r.id, Job: r.Job, Digest: r.Digest, ScheduledAt: r.ScheduledAt, Trigger: r.Trigger,
		Status: r.Status, MaxAttempts: r.MaxAttempts, NotBefore: r.NotBefore, CreatedAt: now, Error: r.Error,
		Shard: r.shard, ShardTotal: r.shardTotal, PinnedNode: r.pinned, RunOnLabels: r.RunOnLabels,
		Params: r.params, BackfillID: r.backfill, Traceparent: r.Traceparent}
	if !r.finishedAt.IsZero() {
		f := r.finishedAt
		run.FinishedAt = &f
	}
	return run
}

// scheduleLike reports whether a run of trigger t holds its tick
// (tick_key = scheduled_at, I1): schedule, catchup and backfill runs.
func scheduleLike(t jobs.Trigger) bool {
	return t == jobs.TriggerSchedule || t == jobs.TriggerCatchup || t == jobs.TriggerBackfill
}

// newRows normalises the runs to insert: stored text and times, defaults,
// terminal rows finished now.
func newRows(in []storage.NewRun, now time.Time) []*newRow {
	out := make([]*newRow, len(in))
	for i, n := range in {
		r := &newRow{NewRun: n, waitsFor: -1}
		r.Job, r.Digest, r.Error, r.RunOnLabels = text(n.Job), text(n.Digest), text(n.Error), text(n.RunOnLabels)
		r.ScheduledAt = utc(n.ScheduledAt)
		r.NotBefore = utc(n.NotBefore)
		if n.NotBefore.IsZero() {
			r.NotBefore = now
		}
		if r.MaxAttempts < 1 {
			r.MaxAttempts = 1
		}
		r.tick = scheduleLike(n.Trigger)
		switch {
		case n.Status == jobs.StatusQueued:
			r.enqueued = true
		case n.Status.Terminal():
			r.finishedAt = now
		}
		out[i] = r
	}
	return out
}

// Dispatch inserts the runs of due ticks in one fenced transaction (I1, I2).
// Rows of a schedule or catchup tick already in history, or twice in the
// batch, are dropped. Queued rows are subject to their job's concurrency
// policy: forbid stores a row as skipped while the job has a scheduled,
// queued or running run (including one queued earlier in the batch);
// replace cancels the job's scheduled and queued runs (earlier rows of the
// batch included) and asks its running ones to stop. Cursors only move
// forward. It returns the rows inserted as queued, in batch order.
func (s *Store) Dispatch(ctx context.Context, p storage.DispatchParams) ([]jobs.Run, error) {
	var out []jobs.Run
	err := s.write(ctx, fmt.Sprintf("dispatching %d runs", len(p.Runs)), func(tx *sqlx.Tx) error {
		out = nil
		if err := s.fence(ctx, tx, p.Epoch); err != nil {
			return err
		}
		now := utc(p.Now)
		all := newRows(p.Runs, now)
		cursors := unproven(p.Cursors, all)
		rows, err := s.dropDispatched(ctx, tx, all)
		if err != nil {
			return err
		}
		if err := s.applyPolicies(ctx, tx, rows, now); err != nil {
			return err
		}
		if rows, err = s.splitBroadcasts(ctx, tx, rows, p.LiveSince); err != nil {
			return err
		}
		if err := s.insertRows(ctx, tx, rows, now); err != nil {
			return err
		}
		if err := s.advanceCursors(ctx, tx, cursors); err != nil {
			return err
		}
		if w := p.Watermark; w != nil {
			// The fence holds the leader row's lock.
			if _, err := tx.ExecContext(ctx, "UPDATE leader SET watermark = ?, schedule_digest = ? WHERE id = 1",
				s.t(w.At), w.Schedule); err != nil {
				return fmt.Errorf("recording dispatch watermark: %w", err)
			}
		}
		for _, r := range rows {
			if r.Status == jobs.StatusQueued {
				out = append(out, r.run(now))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// dropDispatched leaves out rows whose tick is already in history or
// earlier in the batch. The fence lock serialises dispatchers, and besides
// Dispatch only Backfill writes tick keys, never after a job's cursor
// (where a dispatch writes), so what it reads stays true until commit; the
// INSERT still skips duplicates as a second guard.
func (s *Store) dropDispatched(ctx context.Context, tx *sqlx.Tx, rows []*newRow) ([]*newRow, error) {
	var ticks []*newRow
	for _, r := range rows {
		if r.tick {
			ticks = append(ticks, r)
		}
	}
	seen, err := s.tickIDs(ctx, tx, ticks)
	if err != nil {
		return nil, fmt.Errorf("reading dispatched ticks: %w", err)
	}
	kept := rows[:0:0]
	for _, r := range rows {
		if r.tick {
			k := r.key()
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = 0
		}
		kept = append(kept, r)
	}
	return kept, nil
}

// tickIDs returns the ids of the rows holding the ticks of rows (and of
// any other shard of those ticks).
//
// Each chunk's lookup is a few IN lists on the unique key (job, tick_key,
// shard): the chunk's rows grouped by tick (a busy second's many jobs) or by
// job (one job's catch-up ticks), whichever makes fewer groups. An OR of
// one (job = ? AND tick_key = ? AND shard = ?) term per row finds the same
// rows, but MariaDB's range optimizer spent about 90 µs per term merging
// them: as much as inserting the row.
func (s *Store) tickIDs(ctx context.Context, tx *sqlx.Tx, rows []*newRow) (map[tickKey]int64, error) {
	ids := make(map[tickKey]int64, len(rows))
	err := chunks(len(rows), chunkRows, func(lo, hi int) error {
		q, args := s.tickLookup(rows[lo:hi])
		var found []tickRow
		if err := tx.SelectContext(ctx, &found, q, args...); err != nil {
			return err
		}
		collectIDs(ids, found)
		return nil
	})
	return ids, err
}

// tickRowCols are the columns of a tickRow.
const tickRowCols = "id, job, tick_key, shard"

// tickRow is a stored row's id and unique key (I1).
type tickRow struct {
	ID    int64  `db:"id"`
	Job   string `db:"job"`
	Tick  dbTime `db:"tick_key"`
	Shard int    `db:"shard"`
}

// collectIDs adds the rows' ids to ids by key.
func collectIDs(ids map[tickKey]int64, rows []tickRow) {
	for _, r := range rows {
		ids[tickKey{r.Job, r.Tick.T.UnixMicro(), r.Shard}] = r.ID
	}
}

// keyColumn is one column of the unique key (job, tick_key) as tickLookup
// uses it: its name, a comparable value of a row's, and the bound argument.
type keyColumn struct {
	name     string
	key, arg func(*newRow) any
}

// tickLookup is the SELECT of tickIDs for one chunk of rows: an OR of
// (tick_key = ? AND job IN (…)) per tick, or of (job = ? AND tick_key IN
// (…)) per job, whichever has fewer terms.
func (s *Store) tickLookup(rows []*newRow) (string, []any) {
	tick := keyColumn{"tick_key", func(r *newRow) any { return r.ScheduledAt.UnixMicro() }, func(r *newRow) any { return s.t(r.ScheduledAt) }}
	job := keyColumn{"job", func(r *newRow) any { return r.Job }, func(r *newRow) any { return r.Job }}
	outer, inner := tick, job
	groups := groupRows(rows, tick.key)
	if byJob := groupRows(rows, job.key); len(byJob) < len(groups) {
		outer, inner, groups = job, tick, byJob
	}
	var b strings.Builder
	args := make([]any, 0, len(rows)+len(groups))
	b.WriteString("SELECT " + tickRowCols + " FROM runs WHERE ")
	for i, group := range groups {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(" + outer.name + " = ? AND " + inner.name + " IN (")
		args = append(args, outer.arg(group[0]))
		for j, in := range groupRows(group, inner.key) {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
			args = append(args, inner.arg(in[0]))
		}
		b.WriteString("))")
	}
	return b.String(), args
}

// groupRows groups rows by key(r), the groups in order of first appearance.
func groupRows(rows []*newRow, key func(*newRow) any) [][]*newRow {
	at := map[any]int{}
	var groups [][]*newRow
	for _, r := range rows {
		k := key(r)
		i, ok := at[k]
		if !ok {
			i = len(groups)
			at[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	return groups
}

// applyPolicies rewrites queued rows by their job's concurrency policy and
// ends the stored runs that replace policy displaces.
func (s *Store) applyPolicies(ctx context.Context, tx *sqlx.Tx, rows []*newRow, now time.Time) error {
	var names []string
	seen := map[string]bool{}
	for _, r := range rows {
		if r.Status == jobs.StatusQueued && r.Concurrency != jobs.ConcurrencyAllow && r.Concurrency != "" && !seen[r.Job] {
			seen[r.Job] = true
			names = append(names, r.Job)
		}
	}
	if len(names) == 0 {
		return nil
	}
	active, err := s.activeRuns(ctx, tx, names, now)
	if err != nil {
		return err
	}
	latest := map[string]int{} // job → index of its latest queued row in the batch
	replaced := map[string]bool{}
	for i, r := range rows {
		if r.Status != jobs.StatusQueued {
			continue
		}
		switch r.Concurrency {
		case jobs.ConcurrencyForbid:
			if a := active[r.Job]; len(a) > 0 {
				skip(r, now, fmt.Sprintf(reasonForbid, a[len(a)-1].ID))
			} else if j, ok := latest[r.Job]; ok {
				skip(r, now, "")
				r.waitsFor = j
			} else {
				latest[r.Job] = i
			}
		case jobs.ConcurrencyReplace:
			if j, ok := latest[r.Job]; ok {
				rows[j].Status, rows[j].Error = jobs.StatusCanceled, reasonReplaced
				rows[j].enqueued, rows[j].finishedAt = false, now
			}
			latest[r.Job] = i
			replaced[r.Job] = true
		}
	}
	var cancel, stop []int64
	for job := range replaced {
		for _, a := range active[job] {
			if a.Status == string(jobs.StatusRunning) {
				stop = append(stop, a.ID)
			} else {
				cancel = append(cancel, a.ID)
			}
		}
	}
	if len(cancel) > 0 {
		q, args, err := in("UPDATE runs SET status = 'canceled', finished_at = ?, error = ? "+
			"WHERE id IN (?) AND status IN ('scheduled', 'queued')", s.t(now), reasonReplaced, cancel)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("canceling replaced runs: %w", err)
		}
	}
	if len(stop) > 0 {
		q, args, err := in("UPDATE runs SET cancel_requested = 1 WHERE id IN (?) AND status = 'running'", stop)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("stopping replaced runs: %w", err)
		}
	}
	return nil
}

func skip(r *newRow, now time.Time, reason string) {
	r.Status, r.Error, r.enqueued, r.finishedAt = jobs.StatusSkipped, reason, false, now
}

type activeRun struct {
	ID     int64  `db:"id"`
	Job    string `db:"job"`
	Status string `db:"status"`
}

// activeRuns returns the queued and running runs of the named jobs, and
// their scheduled runs that the leader is about to queue (manual runs due
// by now), oldest first. Scheduled runs still waiting — a trigger --at
// for later, a backfill's runs — are neither active nor displaced: they
// are not running, and a backfill has its own bound (max_concurrent).
func (s *Store) activeRuns(ctx context.Context, tx *sqlx.Tx, names []string, now time.Time) (map[string][]activeRun, error) {
	out := map[string][]activeRun{}
	err := chunks(len(names), chunkRows, func(lo, hi int) error {
		q, args, err := in("SELECT id, job, status FROM runs WHERE job IN (?) "+
			"AND status IN ('queued', 'running') ORDER BY id", names[lo:hi])
		if err != nil {
			return err
		}
		var found []activeRun
		if err := tx.SelectContext(ctx, &found, q, args...); err != nil {
			return fmt.Errorf("reading active runs: %w", err)
		}
		// Due manual runs through runs_backfill_status: a backfill's
		// waiting runs, possibly many, are not even read.
		q, args, err = in("SELECT id, job, status FROM runs"+s.d.useIndex("runs_backfill_status")+
			" WHERE backfill_id IS NULL AND status = 'scheduled' AND not_before <= ? AND job IN (?)", s.t(now), names[lo:hi])
		if err != nil {
			return err
		}
		var due []activeRun
		if err := tx.SelectContext(ctx, &due, q, args...); err != nil {
			return fmt.Errorf("reading due manual runs: %w", err)
		}
		found = append(found, due...)
		sort.Slice(found, func(a, b int) bool { return found[a].ID < found[b].ID })
		for _, a := range found {
			out[a.Job] = append(out[a.Job], a)
		}
		return nil
	})
	return out, err
}

// insertRows inserts rows and sets their ids where later steps need them
// (queued rows). Forbid skips that name a row of the same batch go last,
// once that row's id is known.
func (s *Store) insertRows(ctx context.Context, tx *sqlx.Tx, rows []*newRow, now time.Time) error {
	var first, last []*newRow
	for _, r := range rows {
		if r.waitsFor >= 0 {
			last = append(last, r)
		} else {
			first = append(first, r)
		}
	}
	if err := s.insertPass(ctx, tx, first, now); err != nil {
		return err
	}
	for _, r := range last {
		r.Error = fmt.Sprintf(reasonForbid, rows[r.waitsFor].id)
	}
	return s.insertPass(ctx, tx, last, now)
}

func (s *Store) insertPass(ctx context.Context, tx *sqlx.Tx, rows []*newRow, now time.Time) error {
	var ticks, queuedTicks []*newRow
	for _, r := range rows {
		if !r.tick {
			// No key to read the id back by: one INSERT each (manual rows
			// are rare in a dispatch).
			id, err := s.insertOne(ctx, tx, r, now)
			if err != nil {
				return err
			}
			r.id = id
			continue
		}
		ticks = append(ticks, r)
		if r.Status == jobs.StatusQueued {
			queuedTicks = append(queuedTicks, r)
		}
	}
	ids := make(map[tickKey]int64, len(queuedTicks))
	err := chunks(len(ticks), chunkRows, func(lo, hi int) error {
		args := make([]any, 0, insertRunN*(hi-lo))
		for _, r := range ticks[lo:hi] {
			args = append(args, s.args(r, now)...)
		}
		q := "INSERT INTO runs (" + insertRunCols + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(placeholders(insertRunN)+", ", hi-lo), ", ") + s.d.SkipDuplicates
		if !s.d.Returning {
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("inserting runs: %w", err)
			}
			return nil
		}
		var got []tickRow
		if err := tx.SelectContext(ctx, &got, q+" RETURNING "+tickRowCols, args...); err != nil {
			return fmt.Errorf("inserting runs: %w", err)
		}
		collectIDs(ids, got)
		return nil
	})
	if err != nil {
		return err
	}
	// Without RETURNING, or for a row it did not return (SQLite returns
	// no row for a duplicate it skipped), the ids are read back by key.
	var unknown []*newRow
	for _, r := range queuedTicks {
		if _, ok := ids[r.key()]; !ok {
			unknown = append(unknown, r)
		}
	}
	if len(unknown) > 0 {
		more, err := s.tickIDs(ctx, tx, unknown)
		if err != nil {
			return fmt.Errorf("reading ids of inserted runs: %w", err)
		}
		for k, id := range more {
			ids[k] = id
		}
	}
	for _, r := range queuedTicks {
		id, ok := ids[r.key()]
		if !ok {
			return fmt.Errorf("reading ids of inserted runs: run of job %q at %s not found", r.Job, r.ScheduledAt.Format(time.RFC3339Nano))
		}
		r.id = id
	}
	return nil
}

func (s *Store) insertOne(ctx context.Context, tx *sqlx.Tx, r *newRow, now time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, "INSERT INTO runs ("+insertRunCols+") VALUES "+placeholders(insertRunN), s.args(r, now)...)
	if err != nil {
		return 0, fmt.Errorf("inserting run: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("reading id of inserted run: %w", err)
	}
	return id, nil
}

// unproven returns the cursors that the rows do not prove. A job's cursor
// is the later of its job_state.tick_cursor and the newest tick_key of its
// runs (JobStates), so a cursor equal to the tick of one of the batch's
// schedule or catchup rows needs no write: after the commit that row is in
// history, inserted now or already there (I1). In the steady state every
// cursor is its job's last tick in the batch, and dispatch writes one row
// per run instead of two. Cursors that move without a row — a paused
// job's ticks, a job first seen — are written.
func unproven(cursors map[string]time.Time, rows []*newRow) map[string]time.Time {
	if len(cursors) == 0 || len(rows) == 0 {
		return cursors
	}
	ticks := make(map[tickKey]bool, len(rows))
	for _, r := range rows {
		if r.tick {
			ticks[r.key()] = true
		}
	}
	out := make(map[string]time.Time, len(cursors))
	for name, at := range cursors {
		if !ticks[tickKey{text(name), at.UnixMicro(), 0}] {
			out[name] = at
		}
	}
	return out
}

// advanceCursors moves each job's schedule cursor to the given tick unless
// it is already later.
func (s *Store) advanceCursors(ctx context.Context, tx *sqlx.Tx, cursors map[string]time.Time) error {
	names := make([]string, 0, len(cursors))
	for name, at := range cursors {
		if !at.IsZero() {
			names = append(names, name)
		}
	}
	// A fixed order keeps concurrent transactions from locking rows in
	// opposite orders.
	sort.Strings(names)
	inserted := s.d.Inserted("tick_cursor")
	query := func(rows int) string {
		return "INSERT INTO job_state (job, paused, tick_cursor) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, 0, ?), ", rows), ", ") + " " + s.d.Upsert("job") +
			" tick_cursor = CASE WHEN tick_cursor IS NULL OR tick_cursor < " + inserted + " THEN " + inserted + " ELSE tick_cursor END"
	}
	ex := newChunkExec(ctx, tx, s.d.PrepareChunks && len(names) >= 2*chunkRows, query(chunkRows))
	defer ex.close()
	args := make([]any, 0, 2*chunkRows)
	return chunks(len(names), chunkRows, func(lo, hi int) error {
		args = args[:0]
		for _, name := range names[lo:hi] {
			args = append(args, text(name), s.t(cursors[name]))
		}
		q := ""
		if hi-lo != chunkRows {
			q = query(hi - lo)
		}
		if err := ex.exec(q, args); err != nil {
			return fmt.Errorf("advancing schedule cursors: %w", err)
		}
		return nil
	})
}
