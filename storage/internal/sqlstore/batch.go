package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// finishStmtBytes bounds the captured output and error text one batched
// UPDATE of attempts carries, keeping the statement well below MySQL's
// max_allowed_packet (16 MiB by default) even when every byte is escaped.
// An attempt whose text alone is larger gets a statement of its own.
const finishStmtBytes = 4 << 20

// ClaimMany claims, in one transaction, each run of params that is still
// queued, due, not asked to cancel, and whose stored job and digest are
// those of a param naming it (I4, I7), and returns the claimed runs in the
// order of params. The rows are locked in id order, so concurrent calls
// over the same runs do not deadlock, and the locked rows are checked
// against the database, never against what the caller was told. Each new
// attempt is stamped with the leader epoch read in the same transaction,
// once the runs are locked; the returned runs carry it in Epoch.
func (s *Store) ClaimMany(ctx context.Context, params []storage.ClaimParams) ([]jobs.Run, error) {
	if len(params) == 0 {
		return nil, nil
	}
	return s.claimMany(ctx, fmt.Sprintf("claiming %d runs", len(params)), params)
}

func (s *Store) claimMany(ctx context.Context, what string, params []storage.ClaimParams) ([]jobs.Run, error) {
	first := params[0]
	for _, p := range params[1:] {
		if p.Node != first.Node || !p.Now.Equal(first.Now) || !p.LeaseUntil.Equal(first.LeaseUntil) || !p.Horizon.Equal(first.Horizon) {
			return nil, fmt.Errorf("%s: the params of one call must share Node, Now, Horizon and LeaseUntil", what)
		}
	}
	// wants maps a run id to the params naming it (a doorbell rung twice
	// names it twice); order keeps the first naming of each id.
	wants := make(map[int64][]storage.ClaimParams, len(params))
	order := make([]int64, 0, len(params))
	for _, p := range params {
		if _, seen := wants[p.RunID]; !seen {
			order = append(order, p.RunID)
		}
		wants[p.RunID] = append(wants[p.RunID], p)
	}
	ids := slices.Sorted(slices.Values(order))
	now, lease, node := utc(first.Now), utc(first.LeaseUntil), text(first.Node)
	horizon := now
	if first.Horizon.After(now) {
		horizon = utc(first.Horizon)
	}

	var claimed map[int64]jobs.Run
	err := s.write(ctx, what, func(tx *sqlx.Tx) error {
		claimed = make(map[int64]jobs.Run, len(ids))
		var runs []jobs.Run
		err := chunks(len(ids), chunkRows, func(lo, hi int) error {
			q, args, err := in("SELECT "+runCols+" FROM runs WHERE id IN (?) AND status = 'queued' "+
				"AND not_before <= ? AND cancel_requested = 0 ORDER BY id"+s.d.ForUpdate, ids[lo:hi], s.t(horizon))
			if err != nil {
				return err
			}
			var rows []runRow
			if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
				return fmt.Errorf("locking queued runs: %w", err)
			}
			for _, row := range rows {
				if claimable(row, wants[row.ID]) {
					runs = append(runs, row.run())
				}
			}
			return nil
		})
		if err != nil || len(runs) == 0 {
			return err
		}
		epoch, err := s.currentEpoch(ctx, tx)
		if err != nil {
			return err
		}
		for i := range runs {
			r := &runs[i]
			r.Status, r.Attempt, r.Node, r.Epoch = jobs.StatusRunning, r.Attempt+1, node, epoch
			if r.StartedAt == nil {
				started := attemptStart(*r, now)
				r.StartedAt = &started
			}
		}
		err = chunks(len(runs), chunkRows, func(lo, hi int) error {
			batch := runs[lo:hi]
			runIDs := make([]int64, len(batch))
			for i, r := range batch {
				runIDs[i] = r.ID
			}
			// A run claimed ahead starts at its not_before.
			q, args, err := in("UPDATE runs SET status = 'running', attempt = attempt + 1, node = ?, "+
				"started_at = COALESCE(started_at, CASE WHEN not_before > ? THEN not_before ELSE ? END) "+
				"WHERE id IN (?) AND status = 'queued'", node, s.t(now), s.t(now), runIDs)
			if err != nil {
				return err
			}
			if err := execN(ctx, tx, len(batch), q, args...); err != nil {
				return fmt.Errorf("moving claimed runs to running: %w", err)
			}
			args = args[:0]
			for _, r := range batch {
				args = append(args, r.ID, r.Attempt, node, s.t(attemptStart(r, now)), s.t(lease), r.Epoch)
			}
			q = "INSERT INTO attempts (run_id, number, node, status, started_at, lease_until, epoch, error, output, output_dropped) VALUES " +
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, 'running', ?, ?, ?, '', '', 0), ", len(batch)), ", ")
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("opening attempts: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range runs {
			claimed[r.ID] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []jobs.Run
	for _, id := range order {
		if r, ok := claimed[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// claimable reports whether one of the params naming a locked row asks for
// the job and digest the row holds (I7).
func claimable(row runRow, wants []storage.ClaimParams) bool {
	for _, p := range wants {
		if row.Job == text(p.Job) && row.Digest == text(p.Digest) {
			return true
		}
	}
	return false
}

// FinishMany closes the attempts of params in one transaction, each as
// Finish does (I6); see storage.Store.FinishMany. It locks the running
// attempts, then their runs, each in run id order, as Finish and the
// reaper do; decides every item from the locked rows; and writes with
// one UPDATE of attempts (or a few, when captured output is large) and
// at most two of runs (retries and final states).
func (s *Store) FinishMany(ctx context.Context, params []storage.FinishParams) ([]storage.FinishResult, error) {
	if len(params) == 0 {
		return nil, nil
	}
	return s.finishMany(ctx, fmt.Sprintf("finishing %d attempts", len(params)), params)
}

// finishItem is an item of FinishMany that passed the checks: its new
// run and the values its attempt gets.
type finishItem struct {
	p   storage.FinishParams
	fin time.Time
	run jobs.Run
}

func (s *Store) finishMany(ctx context.Context, what string, params []storage.FinishParams) ([]storage.FinishResult, error) {
	// Statuses are checked before the transaction: they do not depend on
	// the rows.
	base := make([]storage.FinishResult, len(params))
	var valid []int
	for i, p := range params {
		if !finalStatus(p.Status) {
			base[i].Err = fmt.Errorf("%s: %q is not a final attempt status", itemWhat(p), p.Status)
			continue
		}
		valid = append(valid, i)
	}
	if len(valid) == 0 {
		return base, nil
	}
	var ids []int64
	for _, i := range valid {
		ids = append(ids, params[i].RunID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	var out []storage.FinishResult
	err := s.write(ctx, what, func(tx *sqlx.Tx) error {
		out = slices.Clone(base)
		running, err := s.lockRunningAttempts(ctx, tx, ids)
		if err != nil {
			return err
		}
		var withAttempt []int64
		for _, id := range ids {
			if len(running[id]) > 0 {
				withAttempt = append(withAttempt, id)
			}
		}
		runs, err := s.lockRuns(ctx, tx, withAttempt)
		if err != nil {
			return err
		}
		var items []finishItem
		done := make(map[int64]bool, len(valid))
		for _, i := range valid {
			p := params[i]
			// A second item for a run finished earlier in the batch finds
			// its attempt closed, as a second Finish would.
			if done[p.RunID] || !hasAttempt(running[p.RunID], p.Attempt, text(p.Node)) {
				out[i].Err = fmt.Errorf("%s: %w", itemWhat(p), storage.ErrLeaseLost)
				continue
			}
			run, ok := runs[p.RunID]
			if !ok {
				out[i].Err = fmt.Errorf("%s: %w", itemWhat(p), storage.ErrNotFound)
				continue
			}
			if run.Status != jobs.StatusRunning || run.Attempt != p.Attempt {
				// Cannot happen while attempt and run change together (I6);
				// refuse rather than write over a run someone else moved on.
				out[i].Err = fmt.Errorf("%s: %w: run is %s at attempt %d", itemWhat(p), storage.ErrLeaseLost, run.Status, run.Attempt)
				continue
			}
			done[p.RunID] = true
			fin := utc(p.FinishedAt)
			run.ExitCode, run.Error = p.ExitCode, text(p.Error)
			if p.RetryAt != nil && run.Attempt < run.MaxAttempts && !run.CancelRequested {
				run.Status, run.NotBefore, run.Node = jobs.StatusQueued, utc(*p.RetryAt), ""
			} else {
				f := fin
				run.Status, run.FinishedAt = p.Status, &f
			}
			items = append(items, finishItem{p: p, fin: fin, run: run})
			out[i].Run = run
		}
		if len(items) == 0 {
			return nil
		}
		if err := s.closeAttempts(ctx, tx, items); err != nil {
			return err
		}
		return s.updateFinishedRuns(ctx, tx, items)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lockRunningAttempts locks the running attempts of the runs ids (sorted)
// and returns them by run id.
func (s *Store) lockRunningAttempts(ctx context.Context, tx *sqlx.Tx, ids []int64) (map[int64][]runningAttempt, error) {
	byRun := make(map[int64][]runningAttempt, len(ids))
	err := chunks(len(ids), chunkRows, func(lo, hi int) error {
		q, args, err := in("SELECT run_id, number, node FROM attempts WHERE run_id IN (?) AND status = 'running' "+
			"ORDER BY run_id, number"+s.d.ForUpdate, ids[lo:hi])
		if err != nil {
			return err
		}
		var atts []runningAttempt
		if err := tx.SelectContext(ctx, &atts, q, args...); err != nil {
			return fmt.Errorf("locking running attempts: %w", err)
		}
		for _, a := range atts {
			byRun[a.RunID] = append(byRun[a.RunID], a)
		}
		return nil
	})
	return byRun, err
}

// lockRuns locks the runs ids (sorted) and returns them by id.
func (s *Store) lockRuns(ctx context.Context, tx *sqlx.Tx, ids []int64) (map[int64]jobs.Run, error) {
	byID := make(map[int64]jobs.Run, len(ids))
	err := chunks(len(ids), chunkRows, func(lo, hi int) error {
		q, args, err := in("SELECT "+runCols+" FROM runs WHERE id IN (?) ORDER BY id"+s.d.ForUpdate, ids[lo:hi])
		if err != nil {
			return err
		}
		var rows []runRow
		if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
			return fmt.Errorf("locking runs: %w", err)
		}
		for _, r := range rows {
			byID[r.ID] = r.run()
		}
		return nil
	})
	return byID, err
}

// closeAttempts writes the results of items into their running attempts,
// in statements of at most chunkRows attempts and finishStmtBytes of text.
func (s *Store) closeAttempts(ctx context.Context, tx *sqlx.Tx, items []finishItem) error {
	cols := []string{"status", "finished_at", "exit_code", "error", "output", "output_dropped"}
	for lo := 0; lo < len(items); {
		hi, size := lo, 0
		for hi < len(items) && hi-lo < chunkRows {
			n := len(items[hi].p.Output) + len(items[hi].p.Error)
			if hi > lo && size+n > finishStmtBytes {
				break
			}
			size += n
			hi++
		}
		batch := items[lo:hi]
		keys := make([]int64, len(batch))
		vals := make([][]any, len(batch))
		for i, it := range batch {
			keys[i] = it.p.RunID
			vals[i] = []any{string(it.p.Status), s.t(it.fin), nullInt(it.p.ExitCode), text(it.p.Error), text(it.p.Output), it.p.OutputDropped}
		}
		// The locks are held and each run has the one running attempt
		// checked above, so run_id picks it.
		q, args := caseUpdate("attempts", "run_id", "", cols, keys, vals, " AND status = 'running'")
		if err := execN(ctx, tx, len(batch), q, args...); err != nil {
			return fmt.Errorf("closing attempts: %w", err)
		}
		lo = hi
	}
	return nil
}

// updateFinishedRuns writes the new state of the items' runs: one
// statement for the runs going back to queued, one for those that ended.
func (s *Store) updateFinishedRuns(ctx context.Context, tx *sqlx.Tx, items []finishItem) error {
	var retryKeys, finalKeys []int64
	var retryVals, finalVals [][]any
	for _, it := range items {
		r := it.run
		if r.Status == jobs.StatusQueued {
			retryKeys = append(retryKeys, r.ID)
			retryVals = append(retryVals, []any{s.t(r.NotBefore), nullInt(r.ExitCode), r.Error})
		} else {
			finalKeys = append(finalKeys, r.ID)
			finalVals = append(finalVals, []any{string(r.Status), s.t(*r.FinishedAt), nullInt(r.ExitCode), r.Error})
		}
	}
	for _, u := range []struct {
		what  string
		fixed string
		cols  []string
		keys  []int64
		vals  [][]any
	}{
		{"queueing runs for a retry", "status = 'queued', enqueued_at = NULL, node = ''", []string{"not_before", "exit_code", "error"}, retryKeys, retryVals},
		{"ending runs", "", []string{"status", "finished_at", "exit_code", "error"}, finalKeys, finalVals},
	} {
		err := chunks(len(u.keys), chunkRows, func(lo, hi int) error {
			q, args := caseUpdate("runs", "id", u.fixed, u.cols, u.keys[lo:hi], u.vals[lo:hi], " AND status = 'running'")
			if err := execN(ctx, tx, hi-lo, q, args...); err != nil {
				return fmt.Errorf("%s: %w", u.what, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// caseUpdate builds one UPDATE giving each row keyed by keys[i] the
// values vals[i] of cols, through CASE key WHEN … THEN … END (which
// MySQL/MariaDB and SQLite both run), plus the constant assignments of
// fixed, restricted to key IN (keys) and the extra condition where. A
// column whose value is the same for every row is set to it directly:
// the CASE is the costly part of the statement, and most results share
// their status, exit code and error.
func caseUpdate(table, key, fixed string, cols []string, keys []int64, vals [][]any, where string) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, len(keys)*(2*len(cols)+1))
	b.WriteString("UPDATE " + table + " SET ")
	if fixed != "" {
		b.WriteString(fixed + ", ")
	}
	for j, col := range cols {
		if j > 0 {
			b.WriteString(", ")
		}
		if sameColumn(vals, j) {
			b.WriteString(col + " = ?")
			args = append(args, vals[0][j])
			continue
		}
		b.WriteString(col + " = CASE " + key)
		for i, k := range keys {
			b.WriteString(" WHEN ? THEN ?")
			args = append(args, k, vals[i][j])
		}
		b.WriteString(" END")
	}
	b.WriteString(" WHERE " + key + " IN " + placeholders(len(keys)) + where)
	for _, k := range keys {
		args = append(args, k)
	}
	return b.String(), args
}

// sameColumn reports whether every row of vals has the same value in
// column j. Values are what the store binds: strings, integers, times,
// nil; any other type counts as different.
func sameColumn(vals [][]any, j int) bool {
	for _, row := range vals[1:] {
		if !sameValue(row[j], vals[0][j]) {
			return false
		}
	}
	return true
}

func sameValue(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case string:
		b, ok := b.(string)
		return ok && a == b
	case int64:
		b, ok := b.(int64)
		return ok && a == b
	case time.Time:
		b, ok := b.(time.Time)
		return ok && a.Equal(b) && a.Location() == b.Location()
	}
	return false
}

// execN runs a statement that must match exactly n rows. The rows are
// locked and checked beforehand, so any other count means the store is
// not what the transaction saw: it is rolled back.
func execN(ctx context.Context, tx *sqlx.Tx, n int, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	got, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if got != int64(n) {
		return fmt.Errorf("statement matched %d rows, want %d", got, n)
	}
	return nil
}

func finalStatus(st jobs.RunStatus) bool {
	switch st {
	case jobs.StatusSucceeded, jobs.StatusFailed, jobs.StatusTimedOut, jobs.StatusCanceled, jobs.StatusLost:
		return true
	}
	return false
}

func hasAttempt(atts []runningAttempt, number int, node string) bool {
	for _, a := range atts {
		if a.Number == number && a.Node == node {
			return true
		}
	}
	return false
}

func itemWhat(p storage.FinishParams) string {
	return fmt.Sprintf("finishing run %d attempt %d", p.RunID, p.Attempt)
}

// attemptStart is when a claimed run's attempt starts: now, or its
// not_before when it was claimed ahead.
func attemptStart(r jobs.Run, now time.Time) time.Time {
	if nb := utc(r.NotBefore); nb.After(now) {
		return nb
	}
	return now
}
