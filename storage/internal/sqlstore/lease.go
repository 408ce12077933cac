package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/storage"
)

// txNow reads the store's clock inside tx: the dialect's NowQuery, or the
// process clock for an engine inside this process.
func (s *Store) txNow(ctx context.Context, tx *sqlx.Tx) (time.Time, error) {
	if s.d.NowQuery == "" {
		return utc(s.now()), nil
	}
	var t dbTime
	if err := tx.QueryRowxContext(ctx, s.d.NowQuery).Scan(&t); err != nil {
		return time.Time{}, err
	}
	return t.T.UTC(), nil
}

// leaseRow is the lease row (table leader_lease, migration 00014).
type leaseRow struct {
	Node    string `db:"lease_node"`
	Token   string `db:"lease_token"`
	Backend string `db:"lease_backend"`
	Until   dbTime `db:"lease_until"`
}

const selectLease = "SELECT lease_node, lease_token, lease_backend, lease_until FROM leader_lease WHERE id = 1"

func (r leaseRow) row(now time.Time) storage.LeaseRow {
	return storage.LeaseRow{Node: r.Node, Token: r.Token, Backend: r.Backend, Until: r.Until.T, Now: now}
}

// ClaimLease takes or extends the lease row in one transaction, with the
// lease row locked, by the store's clock. The lease row is not the leader
// row: a renewal does not wait for the dispatches fenced on the epoch.
func (s *Store) ClaimLease(ctx context.Context, c storage.LeaseClaim) (storage.LeaseRow, error) {
	if c.Token == "" || c.TTL <= 0 {
		return storage.LeaseRow{}, errors.New("sqlstore: ClaimLease needs a token and a positive TTL")
	}
	var out storage.LeaseRow
	err := s.write(ctx, "claiming the lease row", func(tx *sqlx.Tx) error {
		var cur leaseRow
		if err := tx.GetContext(ctx, &cur, selectLease+s.d.ForUpdate); err != nil {
			return err
		}
		now, err := s.txNow(ctx, tx)
		if err != nil {
			return err
		}
		held := cur.Token != "" && cur.Until.Valid && cur.Until.T.After(now)
		if cur.Token != c.Token && (held || c.Renew) {
			out = cur.row(now)
			return nil
		}
		until := now.Add(c.TTL).Truncate(time.Microsecond)
		if _, err := tx.ExecContext(ctx,
			"UPDATE leader_lease SET lease_node = ?, lease_token = ?, lease_backend = ?, lease_until = ? WHERE id = 1",
			text(c.Node), c.Token, c.Backend, s.t(until)); err != nil {
			return err
		}
		out = storage.LeaseRow{Node: c.Node, Token: c.Token, Backend: c.Backend, Until: until, Now: now}
		return nil
	})
	return out, err
}

// ReleaseLease frees the lease row if token holds it.
func (s *Store) ReleaseLease(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	return s.write(ctx, "releasing the lease row", func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx,
			"UPDATE leader_lease SET lease_token = '', lease_until = NULL WHERE id = 1 AND lease_token = ?", token)
		return err
	})
}

// LeaseRow reads the lease row and the store's clock.
func (s *Store) LeaseRow(ctx context.Context) (storage.LeaseRow, error) {
	var out storage.LeaseRow
	err := s.write(ctx, "reading the lease row", func(tx *sqlx.Tx) error {
		var cur leaseRow
		if err := tx.GetContext(ctx, &cur, selectLease); err != nil {
			return err
		}
		now, err := s.txNow(ctx, tx)
		if err != nil {
			return err
		}
		out = cur.row(now)
		return nil
	})
	return out, err
}
