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
				if claimable(row, wants[row.ID]) && placedFor(row, node, first.Labels) {
					runs = append(runs, row.run())
				}
			}
			return nil
		})
		if err != nil || len(runs) == 0 {
			return err
		}
		if err := s.claimLocked(ctx, tx, runs, now, lease, node); err != nil {
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

// claimLocked moves runs, queued rows this transaction holds locked, to
// running on node with a new attempt leased until lease, stamped with the
// epoch read here, and updates runs in place to match.
func (s *Store) claimLocked(ctx context.Context, tx *sqlx.Tx, runs []jobs.Run, now, lease time.Time, node string) error {
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
		// A run claimed ahead starts at its not_before. The new attempt
		// lives on the run row until it ends (attempt_started_at,
		// lease_until, attempt_epoch): one row change per claim; its
		// attempts row is written when it ends.
		q, args, err := in("UPDATE runs SET status = 'running', attempt = attempt + 1, node = ?, "+
			"started_at = COALESCE(started_at, CASE WHEN not_before > ? THEN not_before ELSE ? END), "+
			"attempt_started_at = CASE WHEN not_before > ? THEN not_before ELSE ? END, lease_until = ?, attempt_epoch = ? "+
			"WHERE id IN (?) AND status = 'queued'", node, s.t(now), s.t(now), s.t(now), s.t(now), s.t(lease), epoch, runIDs)
		if err != nil {
			return err
		}
		if err := execN(ctx, tx, len(batch), q, args...); err != nil {
			return fmt.Errorf("moving claimed runs to running: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return nil
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
// Finish does (I6); see storage.Store.FinishMany. It locks the runs in id
// order, as the claim and the reaper do; the running attempt is the one
// the locked run row holds (status running, attempt, node), checked for
// every item; then it writes each ended attempt's row once, complete, in
// one multi-row INSERT (or a few, when captured output is large), and
// the runs with at most two UPDATEs (retries and final states): two row
// changes per attempt.
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
	att jobs.Attempt // the running attempt it ends
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
		rows, err := s.lockRuns(ctx, tx, ids)
		if err != nil {
			return err
		}
		var items []finishItem
		done := make(map[int64]bool, len(valid))
		for _, i := range valid {
			p := params[i]
			// The running attempt is the one the locked run row holds. A
			// second item for a run finished earlier in the batch finds
			// it ended, as a second Finish would.
			row, ok := rows[p.RunID]
			att, running := row.heldAttempt()
			if done[p.RunID] || !ok || !running || att.Number != p.Attempt || att.Node != text(p.Node) {
				out[i].Err = fmt.Errorf("%s: %w", itemWhat(p), storage.ErrLeaseLost)
				continue
			}
			run := row.run()
			done[p.RunID] = true
			fin := utc(p.FinishedAt)
			run.ExitCode, run.Error = p.ExitCode, text(p.Error)
			if p.RetryAt != nil && run.Attempt < run.MaxAttempts && !run.CancelRequested {
				run.Status, run.NotBefore, run.Node = jobs.StatusQueued, utc(*p.RetryAt), ""
			} else {
				f := fin
				run.Status, run.FinishedAt = p.Status, &f
			}
			items = append(items, finishItem{p: p, fin: fin, run: run, att: att})
			out[i].Run = run
		}
		if len(items) == 0 {
			return nil
		}
		if err := s.insertEndedAttempts(ctx, tx, items); err != nil {
			return err
		}
		var flushed []int64
		for _, it := range items {
			if it.p.Flushed {
				flushed = append(flushed, it.p.RunID)
			}
		}
		if err := s.deleteLiveOutput(ctx, tx, flushed); err != nil {
			return err
		}
		return s.updateFinishedRuns(ctx, tx, items)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lockRuns locks the runs ids (sorted) and returns their rows by id.
func (s *Store) lockRuns(ctx context.Context, tx *sqlx.Tx, ids []int64) (map[int64]runRow, error) {
	byID := make(map[int64]runRow, len(ids))
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
			byID[r.ID] = r
		}
		return nil
	})
	return byID, err
}

// attemptInsertCols are the columns of an ended attempt's row, in the
// order endedAttemptArgs gives them.
const attemptInsertCols = "run_id, number, node, status, started_at, finished_at, lease_until, " +
	"exit_code, error, output, output_dropped, epoch"

func (s *Store) endedAttemptArgs(a jobs.Attempt) []any {
	return []any{a.RunID, a.Number, a.Node, string(a.Status), s.t(a.StartedAt), s.nt(derefTime(a.FinishedAt)),
		s.t(a.LeaseUntil), nullInt(a.ExitCode), a.Error, a.Output, a.OutputDropped, a.Epoch}
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// insertEndedAttempts writes the ended attempts of items, each complete in
// one row, in statements of at most chunkRows attempts and
// finishStmtBytes of text. The primary key (run_id, number) refuses a
// second row for an attempt: the transaction is rolled back.
func (s *Store) insertEndedAttempts(ctx context.Context, tx *sqlx.Tx, items []finishItem) error {
	atts := make([]jobs.Attempt, len(items))
	for i, it := range items {
		a := it.att
		fin := it.fin
		a.Status, a.FinishedAt, a.ExitCode = it.p.Status, &fin, it.p.ExitCode
		a.Error, a.Output, a.OutputDropped = text(it.p.Error), text(it.p.Output), it.p.OutputDropped
		atts[i] = a
	}
	return s.insertAttempts(ctx, tx, atts)
}

// insertAttempts inserts ended attempts (see insertEndedAttempts).
func (s *Store) insertAttempts(ctx context.Context, tx *sqlx.Tx, atts []jobs.Attempt) error {
	for lo := 0; lo < len(atts); {
		hi, size := lo, 0
		for hi < len(atts) && hi-lo < chunkRows {
			n := len(atts[hi].Output) + len(atts[hi].Error)
			if hi > lo && size+n > finishStmtBytes {
				break
			}
			size += n
			hi++
		}
		args := make([]any, 0, 12*(hi-lo))
		for _, a := range atts[lo:hi] {
			args = append(args, s.endedAttemptArgs(a)...)
		}
		q := "INSERT INTO attempts (" + attemptInsertCols + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(placeholders(12)+", ", hi-lo), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("recording ended attempts: %w", err)
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

// claimDueScan is how many due queued rows ClaimDue reads per run it may
// claim: rows of jobs the caller does not define, or may not run here, are
// passed over.
const claimDueScan = 4

// ClaimDue claims due queued runs without doorbells: it reads them in due
// order, skipping rows another transaction holds (SKIP LOCKED where the
// engine has it), keeps those Accept takes and the node may run, and
// claims them as ClaimMany does, all in one transaction.
func (s *Store) ClaimDue(ctx context.Context, p storage.ClaimDueParams) ([]jobs.Run, error) {
	if p.Limit <= 0 || p.Accept == nil {
		return nil, fmt.Errorf("sqlstore: ClaimDue needs a positive Limit and Accept")
	}
	now, lease, node := utc(p.Now), utc(p.LeaseUntil), text(p.Node)
	horizon := now
	if p.Horizon.After(now) {
		horizon = utc(p.Horizon)
	}
	var out []jobs.Run
	err := s.write(ctx, "claiming due runs", func(tx *sqlx.Tx) error {
		out = nil
		var rows []runRow
		if err := tx.SelectContext(ctx, &rows, "SELECT "+runCols+" FROM runs WHERE status = 'queued' "+
			"AND not_before <= ? AND cancel_requested = 0 ORDER BY not_before, id LIMIT ?"+s.d.ForUpdate+s.d.SkipLocked,
			s.t(horizon), p.Limit*claimDueScan); err != nil {
			return fmt.Errorf("locking due queued runs: %w", err)
		}
		for _, row := range rows {
			if len(out) == p.Limit {
				break
			}
			if placedFor(row, node, p.Labels) && p.Accept(row.ID, row.Job, row.Digest) {
				out = append(out, row.run())
			}
		}
		if len(out) == 0 {
			return nil
		}
		return s.claimLocked(ctx, tx, out, now, lease, node)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
