package storetest

import (
	"testing"
	"time"

	"github.com/tock-sched/tock/storage"
)

// testLeaseRow: the lease row goes to one claimant at a time, by the
// store's clock; its holder extends it; an expired or released row goes to
// the next claimant.
func testLeaseRow(t *testing.T, s storage.Store) {
	ctx := t.Context()
	row, err := s.LeaseRow(ctx)
	if err != nil {
		t.Fatalf("LeaseRow: %v", err)
	}
	if row.Held() || row.Now.IsZero() {
		t.Fatalf("fresh store: lease row %+v, want free with the store's now", row)
	}
	a := storage.LeaseClaim{Node: "a", Token: "tok-a", Backend: "redis", TTL: 700 * time.Millisecond}
	b := storage.LeaseClaim{Node: "b", Token: "tok-b", Backend: "mysql", TTL: 700 * time.Millisecond}
	if _, err := s.ClaimLease(ctx, storage.LeaseClaim{Node: "x", TTL: time.Second}); err == nil {
		t.Error("ClaimLease without a token: want an error")
	}

	got, err := s.ClaimLease(ctx, a)
	if err != nil {
		t.Fatalf("ClaimLease(a): %v", err)
	}
	if got.Token != a.Token || got.Node != "a" || got.Backend != "redis" || !got.Held() {
		t.Fatalf("ClaimLease(a) on a free row = %+v, want held by a", got)
	}
	if d := got.Until.Sub(got.Now); d != a.TTL {
		t.Errorf("held until now + %s, want + %s", d, a.TTL)
	}
	first := got.Until
	if got, err = s.ClaimLease(ctx, b); err != nil || got.Token != a.Token {
		t.Fatalf("ClaimLease(b) while a holds it = %+v, %v; want a's row", got, err)
	}
	if got, err = s.ClaimLease(ctx, a); err != nil || got.Token != a.Token || got.Until.Before(first) {
		t.Fatalf("ClaimLease(a) again = %+v, %v; want a's row, extended", got, err)
	}

	// Expiry by the store's clock: b gets it once a's claim has run out.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err = s.ClaimLease(ctx, b)
		if err != nil {
			t.Fatalf("ClaimLease(b): %v", err)
		}
		if got.Token == b.Token {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never got the row after a's claim expired: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got.Node != "b" || got.Backend != "mysql" {
		t.Errorf("row after b's claim = %+v", got)
	}
	if !got.Now.After(first) && !got.Now.Equal(first) {
		t.Errorf("b claimed at store time %s, before a's claim ended at %s", got.Now, first)
	}

	// A renewal extends only the renewer's own claim.
	if got, err := s.ClaimLease(ctx, storage.LeaseClaim{Node: "a", Token: a.Token, TTL: time.Second, Renew: true}); err != nil || got.Token != b.Token {
		t.Fatalf("renewal by a of b's row = %+v, %v; want b's row unchanged", got, err)
	}
	if got, err := s.ClaimLease(ctx, storage.LeaseClaim{Node: "b", Token: b.Token, Backend: "mysql", TTL: time.Second, Renew: true}); err != nil || got.Token != b.Token {
		t.Fatalf("renewal by b = %+v, %v; want b's row", got, err)
	}

	// A release by a non-holder does nothing; the holder's frees the row.
	if err := s.ReleaseLease(ctx, a.Token); err != nil {
		t.Fatal(err)
	}
	if row, _ := s.LeaseRow(ctx); row.Token != b.Token || !row.Held() {
		t.Fatalf("after a's stale release: %+v, want b's", row)
	}
	if err := s.ReleaseLease(ctx, b.Token); err != nil {
		t.Fatal(err)
	}
	if row, _ := s.LeaseRow(ctx); row.Held() {
		t.Fatalf("after b's release: %+v, want free", row)
	}
	if got, err := s.ClaimLease(ctx, storage.LeaseClaim{Node: "b", Token: b.Token, TTL: time.Second, Renew: true}); err != nil || got.Held() {
		t.Fatalf("renewal of a released row = %+v, %v; want it left free", got, err)
	}
	if got, err = s.ClaimLease(ctx, a); err != nil || got.Token != a.Token {
		t.Fatalf("ClaimLease(a) after the release = %+v, %v", got, err)
	}
}
