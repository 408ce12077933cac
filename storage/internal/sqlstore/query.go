package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// ListRuns limits.
const (
	// DefaultListLimit is the page size of ListRuns when the filter has none.
	DefaultListLimit = 100
	// MaxListLimit caps the page size of ListRuns.
	MaxListLimit = 1000
)

// BumpEpoch increments the leader epoch and records node as the leader (I2).
func (s *Store) BumpEpoch(ctx context.Context, node string) (int64, error) {
	var epoch int64
	err := s.write(ctx, "bumping leader epoch", func(tx *sqlx.Tx) error {
		if err := execOne(ctx, tx, errNoLeader, "UPDATE leader SET epoch = epoch + 1, node = ?, updated_at = ? WHERE id = 1",
			text(node), s.t(s.now())); err != nil {
			return err
		}
		return tx.GetContext(ctx, &epoch, "SELECT epoch FROM leader WHERE id = 1")
	})
	return epoch, err
}

// Leader returns the node and epoch last recorded by BumpEpoch; epoch 0
// and no node before the first election.
func (s *Store) Leader(ctx context.Context) (string, int64, error) {
	var row struct {
		Node  string `db:"node"`
		Epoch int64  `db:"epoch"`
	}
	err := s.query(ctx, "reading leader", func(db *sqlx.DB) error {
		return db.GetContext(ctx, &row, "SELECT node, epoch FROM leader WHERE id = 1")
	})
	return row.Node, row.Epoch, err
}

// Watermark returns the dispatch progress last recorded by a leader; the
// zero value before any.
func (s *Store) Watermark(ctx context.Context) (storage.Watermark, error) {
	var row struct {
		At       dbTime `db:"watermark"`
		Schedule string `db:"schedule_digest"`
	}
	err := s.query(ctx, "reading dispatch watermark", func(db *sqlx.DB) error {
		return db.GetContext(ctx, &row, "SELECT watermark, schedule_digest FROM leader WHERE id = 1")
	})
	if err != nil {
		return storage.Watermark{}, err
	}
	if !row.At.Valid {
		return storage.Watermark{}, nil
	}
	return storage.Watermark{At: row.At.T, Schedule: row.Schedule}, nil
}

// JobStates returns the stored state of every job that has one. A job's
// cursor is the later of its job_state.tick_cursor and the newest tick of
// its runs: Dispatch does not write a cursor that one of its rows proves
// (unproven), and Prune moves tick_cursor past the ticks it deletes. The
// newest tick is one descent of the unique (job, tick_key) index per job.
func (s *Store) JobStates(ctx context.Context) (map[string]storage.JobState, error) {
	var rows []struct {
		Job    string `db:"job"`
		Paused bool   `db:"paused"`
		Cursor dbTime `db:"tick_cursor"`
		Last   dbTime `db:"last_tick"`
	}
	err := s.query(ctx, "reading job states", func(db *sqlx.DB) error {
		return db.SelectContext(ctx, &rows, "SELECT job, paused, tick_cursor, "+
			"(SELECT MAX(r.tick_key) FROM runs r WHERE r.job = job_state.job) AS last_tick FROM job_state")
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]storage.JobState, len(rows))
	for _, r := range rows {
		cursor := r.Cursor.T
		if r.Last.Valid && r.Last.T.After(cursor) {
			cursor = r.Last.T
		}
		out[r.Job] = storage.JobState{Job: r.Job, Paused: r.Paused, Cursor: cursor}
	}
	return out, nil
}

// PausedJobs returns the jobs paused in the store (index job_state_paused).
func (s *Store) PausedJobs(ctx context.Context) (map[string]bool, error) {
	var names []string
	err := s.query(ctx, "reading paused jobs", func(db *sqlx.DB) error {
		return db.SelectContext(ctx, &names, "SELECT job FROM job_state WHERE paused = 1")
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

// SetPaused pauses or resumes a job; its cursor is kept.
func (s *Store) SetPaused(ctx context.Context, job string, paused bool) error {
	return s.write(ctx, fmt.Sprintf("setting job %q paused=%t", job, paused), func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO job_state (job, paused, tick_cursor) VALUES (?, ?, NULL) "+
			s.d.Upsert("job")+" paused = "+s.d.Inserted("paused"), text(job), paused)
		if err != nil {
			return err
		}
		action := storage.ActionResume
		if paused {
			action = storage.ActionPause
		}
		return s.audit(ctx, tx, action, "job/"+job, struct{}{})
	})
}

// UpsertNode records a node's facts and heartbeat.
func (s *Store) UpsertNode(ctx context.Context, n storage.Node) error {
	set := make([]string, 0, 9)
	for _, col := range []string{"host", "role", "version", "digest", "started_at", "heartbeat", "clock_offset_us", "clock_rtt_us", "labels"} {
		set = append(set, col+" = "+s.d.Inserted(col))
	}
	return s.write(ctx, fmt.Sprintf("recording node %s", n.ID), func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO nodes ("+nodeCols+") VALUES "+placeholders(10)+" "+
			s.d.Upsert("id")+" "+strings.Join(set, ", "),
			text(n.ID), text(n.Host), text(n.Role), text(n.Version), text(n.Digest), s.t(n.StartedAt), s.t(n.Heartbeat),
			n.ClockOffset.Microseconds(), n.ClockRTT.Microseconds(), n.Labels.String())
		return err
	})
}

// Nodes lists the nodes whose last heartbeat is at or after since, by id.
func (s *Store) Nodes(ctx context.Context, since time.Time) ([]storage.Node, error) {
	var rows []nodeRow
	err := s.query(ctx, "listing nodes", func(db *sqlx.DB) error {
		return db.SelectContext(ctx, &rows, "SELECT "+nodeCols+" FROM nodes WHERE heartbeat >= ? ORDER BY id", s.t(since))
	})
	if err != nil {
		return nil, err
	}
	out := make([]storage.Node, len(rows))
	for i, r := range rows {
		out[i] = r.node()
	}
	return out, nil
}

// ListRuns returns the runs matching f, newest first by (scheduled_at,
// id). Since is inclusive and Until exclusive, both on scheduled_at;
// Before continues after the last run of the previous page. Limit defaults
// to DefaultListLimit and is capped at MaxListLimit.
func (s *Store) ListRuns(ctx context.Context, f storage.RunFilter) ([]jobs.Run, error) {
	var where []string
	var args []any
	add := func(cond string, vals ...any) {
		where = append(where, cond)
		args = append(args, vals...)
	}
	if f.Job != "" {
		add("job = ?", text(f.Job))
	}
	if f.Status != "" {
		add("status = ?", text(string(f.Status)))
	}
	if f.Trigger != "" {
		add("trig = ?", text(string(f.Trigger)))
	}
	if !f.Since.IsZero() {
		add("scheduled_at >= ?", s.t(f.Since))
	}
	if !f.Until.IsZero() {
		add("scheduled_at < ?", s.t(f.Until))
	}
	if f.Before != nil {
		at := s.t(f.Before.ScheduledAt)
		add("(scheduled_at < ? OR (scheduled_at = ? AND id < ?))", at, at, f.Before.ID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	q := "SELECT " + runCols + " FROM runs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY scheduled_at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	var rows []runRow
	err := s.query(ctx, "listing runs", func(db *sqlx.DB) error {
		return db.SelectContext(ctx, &rows, q, args...)
	})
	if err != nil {
		return nil, err
	}
	return runs(rows), nil
}

// GetRun returns a run and its attempts by number, read in one snapshot:
// the ended ones from attempts, the running one from the run row.
func (s *Store) GetRun(ctx context.Context, id int64) (jobs.Run, []jobs.Attempt, error) {
	var run jobs.Run
	var atts []jobs.Attempt
	err := s.read(ctx, fmt.Sprintf("reading run %d", id), func(tx *sqlx.Tx) (err error) {
		var row runRow
		if err := tx.GetContext(ctx, &row, "SELECT "+runCols+" FROM runs WHERE id = ?", id); err != nil {
			return err
		}
		run = row.run()
		if err := s.runLinks(ctx, tx, &run); err != nil {
			return err
		}
		var rows []attemptRow
		if err := tx.SelectContext(ctx, &rows, "SELECT "+attemptCols+" FROM attempts WHERE run_id = ? ORDER BY number", id); err != nil {
			return err
		}
		atts = make([]jobs.Attempt, len(rows), len(rows)+1)
		for i, r := range rows {
			atts[i] = r.attempt()
		}
		// The attempts table holds ended attempts; the running one is on
		// the run row.
		if a, ok := row.heldAttempt(); ok {
			if err := s.liveOutput(ctx, tx, &a); err != nil {
				return err
			}
			atts = append(atts, a)
		}
		return nil
	})
	if err != nil {
		return jobs.Run{}, nil, err
	}
	return run, atts, nil
}

// LastRuns returns the newest run (highest id) of each job. The inner
// GROUP BY job, status reads the (job, status, id) index only (a loose
// index scan in MySQL).
func (s *Store) LastRuns(ctx context.Context) (map[string]jobs.Run, error) {
	var rows []runRow
	err := s.query(ctx, "reading last runs", func(db *sqlx.DB) error {
		return db.SelectContext(ctx, &rows, "SELECT "+runCols+" FROM runs WHERE id IN ("+
			"SELECT MAX(last_id) FROM (SELECT job, MAX(id) AS last_id FROM runs GROUP BY job, status) per_status "+
			"GROUP BY job)")
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]jobs.Run, len(rows))
	for _, r := range rows {
		out[r.Job] = r.run()
	}
	return out, nil
}
