package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Column bounds of the audit table (MySQL VARCHAR sizes).
const (
	auditActorMax  = 191
	auditTargetMax = 255
	auditDetailMax = 4096
)

const auditCols = "id, at, actor, source, action, target, detail"

type auditRow struct {
	ID     int64  `db:"id"`
	At     dbTime `db:"at"`
	Actor  string `db:"actor"`
	Source string `db:"source"`
	Action string `db:"action"`
	Target string `db:"target"`
	Detail string `db:"detail"`
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// audit records action on target by the actor of ctx in tx, the
// transaction of the change itself: the change and its audit row commit
// or roll back together. detail is marshaled to JSON.
func (s *Store) audit(ctx context.Context, tx *sqlx.Tx, action, target string, detail any) error {
	a := storage.ActorFrom(ctx)
	at, err := s.txNow(ctx, tx)
	if err != nil {
		return fmt.Errorf("reading store clock: %w", err)
	}
	d, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("audit detail: %w", err)
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO audit (at, actor, source, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
		s.t(at), clip(text(a.Name), auditActorMax), clip(text(a.Source), 16), action,
		clip(text(target), auditTargetMax), clip(text(string(d)), auditDetailMax))
	if err != nil {
		return fmt.Errorf("writing audit row: %w", err)
	}
	return nil
}

// RecordAudit writes rec with the actor of ctx in a transaction of its own.
func (s *Store) RecordAudit(ctx context.Context, rec storage.AuditRecord) error {
	if rec.Action == "" {
		return errors.New("audit record without an action")
	}
	return s.write(ctx, "record audit", func(tx *sqlx.Tx) error {
		return s.audit(ctx, tx, rec.Action, rec.Target, rec.Detail)
	})
}

// ListAudit returns audit rows matching f, newest first by id.
func (s *Store) ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, s.t(f.Since))
	}
	if f.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = storage.DefaultAuditLimit
	}
	limit = min(limit, storage.MaxAuditLimit)
	q := "SELECT " + auditCols + " FROM audit"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	var rows []auditRow
	err := s.query(ctx, "listing audit rows", func(db *sqlx.DB) error {
		rows = rows[:0]
		return db.SelectContext(ctx, &rows, q, args...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]storage.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = storage.AuditEntry{ID: r.ID, At: r.At.T.UTC(), Actor: r.Actor, Source: r.Source,
			Action: r.Action, Target: r.Target, Detail: r.Detail}
	}
	return out, nil
}

// PruneAudit deletes audit rows older than p.Before (when set) and beyond
// the newest p.Keep, p.Batch rows per transaction.
func (s *Store) PruneAudit(ctx context.Context, p storage.AuditPruneParams) (int64, error) {
	before, batch := p.Before, p.Batch
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	batch = min(batch, MaxPruneBatch)
	keep := p.Keep
	if keep <= 0 || keep > storage.AuditKeep {
		keep = storage.AuditKeep
	}
	var cutoff int64 // rows with id <= cutoff are beyond keep
	err := s.query(ctx, "pruning audit rows", func(db *sqlx.DB) error {
		var ids []int64
		if err := db.SelectContext(ctx, &ids, "SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?", keep); err != nil {
			return err
		}
		if len(ids) > 0 {
			cutoff = ids[0]
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		var n int64
		err := s.write(ctx, "pruning audit rows", func(tx *sqlx.Tx) error {
			cond, args := "id <= ?", []any{cutoff}
			if !before.IsZero() {
				cond += " OR at < ?"
				args = append(args, s.t(before))
			}
			var ids []int64
			if err := tx.SelectContext(ctx, &ids, "SELECT id FROM audit WHERE "+cond+" ORDER BY id LIMIT ?", append(args, batch)...); err != nil {
				return err
			}
			n = int64(len(ids))
			if n == 0 {
				return nil
			}
			q, qa, err := in("DELETE FROM audit WHERE id IN (?)", ids)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, q, qa...)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

// Details of the audited actions, as stored in audit.detail.
type (
	triggerDetail struct {
		Run    int64             `json:"run"`
		At     time.Time         `json:"at"`
		Params map[string]string `json:"params,omitempty"`
	}
	cancelDetail struct {
		Job             string         `json:"job"`
		Status          jobs.RunStatus `json:"status"`
		CancelRequested bool           `json:"cancel_requested,omitempty"`
	}
	backfillDetail struct {
		Backfill      int64     `json:"backfill"`
		From          time.Time `json:"from"`
		To            time.Time `json:"to"`
		MaxConcurrent int       `json:"max_concurrent,omitempty"`
	}
)
