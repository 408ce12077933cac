package fallback

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
)

var errDown = errors.New("dial tcp: connection refused")

// fakeRedis is one Redis shared by the fake leases of a test.
type fakeRedis struct {
	mu     sync.Mutex
	clk    *clock.Fake
	down   map[string]bool // by token: this replica cannot reach Redis
	holder string
	until  time.Time
}

func (r *fakeRedis) lease(token string) *fakeRedisLease { return &fakeRedisLease{r: r, token: token} }

type fakeRedisLease struct {
	r     *fakeRedis
	token string
}

const ttl = 3 * time.Second

func (f *fakeRedisLease) check() error {
	if f.r.down[f.token] {
		return errDown
	}
	if f.r.holder != "" && !f.r.until.After(f.r.clk.Now()) {
		f.r.holder = ""
	}
	return nil
}

func (f *fakeRedisLease) Acquire(context.Context) (bool, time.Time, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if err := f.check(); err != nil {
		return false, time.Time{}, err
	}
	if f.r.holder != "" && f.r.holder != f.token {
		return false, time.Time{}, nil
	}
	f.r.holder, f.r.until = f.token, f.r.clk.Now().Add(ttl)
	return true, f.r.clk.Now().Add(ttl - f.Margin()), nil
}

func (f *fakeRedisLease) Renew(context.Context) (time.Time, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if err := f.check(); err != nil {
		return time.Time{}, err
	}
	if f.r.holder != f.token {
		return time.Time{}, storage.ErrLeaseLost
	}
	f.r.until = f.r.clk.Now().Add(ttl)
	return f.r.clk.Now().Add(ttl - f.Margin()), nil
}

func (f *fakeRedisLease) Release(context.Context) error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	if f.r.holder == f.token {
		f.r.holder = ""
	}
	return nil
}

func (f *fakeRedisLease) Expiry(context.Context) (time.Duration, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if f.r.holder == "" {
		return 0, nil
	}
	return f.r.until.Sub(f.r.clk.Now()), nil
}

func (f *fakeRedisLease) Released(context.Context) <-chan struct{} { return nil }
func (f *fakeRedisLease) TTL() time.Duration                       { return ttl }
func (f *fakeRedisLease) Token() string                            { return f.token }
func (f *fakeRedisLease) Margin() time.Duration                    { return 500 * time.Millisecond }

// fakeRows is the store's lease row on the fake clock.
type fakeRows struct {
	mu  sync.Mutex
	clk *clock.Fake
	row storage.LeaseRow
}

func (s *fakeRows) ClaimLease(_ context.Context, c storage.LeaseClaim) (storage.LeaseRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.row.Now = s.clk.Now()
	if s.row.Token != c.Token && (s.row.Held() || c.Renew) {
		return s.row, nil
	}
	s.row = storage.LeaseRow{Node: c.Node, Token: c.Token, Backend: c.Backend, Until: s.clk.Now().Add(c.TTL), Now: s.clk.Now()}
	return s.row, nil
}

func (s *fakeRows) ReleaseLease(_ context.Context, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.row.Token == token {
		s.row.Token, s.row.Until = "", time.Time{}
	}
	return nil
}

func (s *fakeRows) LeaseRow(context.Context) (storage.LeaseRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.row.Now = s.clk.Now()
	return s.row, nil
}

type rig struct {
	clk   *clock.Fake
	redis *fakeRedis
	rows  *fakeRows
}

func newRig() *rig {
	clk := clock.NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	return &rig{clk: clk, redis: &fakeRedis{clk: clk, down: map[string]bool{}}, rows: &fakeRows{clk: clk}}
}

// replica returns the fallback lease of node and the backends it reported.
func (r *rig) replica(t *testing.T, node string) (*Lease, *[]string) {
	var seen []string
	l, err := New(Options{Redis: r.redis.lease(node), Store: r.rows, Node: node, After: 3 * time.Second, Clock: r.clk,
		OnBackend: func(b string) { seen = append(seen, b) }})
	if err != nil {
		t.Fatal(err)
	}
	return l, &seen
}

func acquire(t *testing.T, l *Lease) bool {
	t.Helper()
	won, _, _ := l.Acquire(context.Background())
	return won
}

func TestLeaseRedisAndRow(t *testing.T) {
	r := newRig()
	a, aSeen := r.replica(t, "a")
	b, _ := r.replica(t, "b")
	if !acquire(t, a) || a.Backend() != BackendRedis {
		t.Fatalf("a: want the lease on redis, backend %q", a.Backend())
	}
	if row, _ := r.rows.LeaseRow(context.Background()); row.Token != "a" || row.Backend != BackendRedis {
		t.Fatalf("the leader holds the row as well: %+v", row)
	}
	if acquire(t, b) {
		t.Fatal("b won while a leads")
	}
	// Redis goes away for everyone: a goes on leading on the row.
	r.redis.down["a"], r.redis.down["b"] = true, true
	r.clk.Advance(time.Second)
	if _, err := a.Renew(context.Background()); err != nil {
		t.Fatalf("a's renewal with Redis down: %v", err)
	}
	if a.Backend() != BackendStore {
		t.Fatalf("a's backend %q, want %q", a.Backend(), BackendStore)
	}
	// b competes on the row once Redis has failed for After — and loses
	// to a, which renews it.
	if won, _, err := b.Acquire(context.Background()); won || err == nil {
		t.Fatalf("b before After: won %v, err %v; want a Redis error", won, err)
	}
	for range 4 {
		r.clk.Advance(time.Second)
		if _, err := a.Renew(context.Background()); err != nil {
			t.Fatalf("a's renewal: %v", err)
		}
		if acquire(t, b) {
			t.Fatal("b took the row while a renews it")
		}
	}
	if b.Competing() != BackendStore {
		t.Fatalf("b competes on %q after the outage bound, want %q", b.Competing(), BackendStore)
	}
	// Redis is back: a takes the Redis lease again at its next renewal.
	r.redis.down["a"], r.redis.down["b"] = false, false
	r.clk.Advance(time.Second)
	if _, err := a.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.Backend() != BackendRedis || r.redis.holder != "a" {
		t.Fatalf("a's backend %q, Redis holder %q: want a back on redis", a.Backend(), r.redis.holder)
	}
	want := []string{BackendRedis, BackendStore, BackendRedis}
	if len(*aSeen) != len(want) || (*aSeen)[0] != want[0] || (*aSeen)[1] != want[1] || (*aSeen)[2] != want[2] {
		t.Errorf("a's backends %v, want %v", *aSeen, want)
	}
}

// TestLeaseTakeoverDuringOutage: the leader dies while Redis is down; a
// standby leads on the row once the row has expired, not before.
func TestLeaseTakeoverDuringOutage(t *testing.T) {
	r := newRig()
	a, _ := r.replica(t, "a")
	b, _ := r.replica(t, "b")
	if !acquire(t, a) {
		t.Fatal("a did not win")
	}
	r.redis.down["a"], r.redis.down["b"] = true, true
	// a is killed now: it renews no more. Its row lasts ttl.
	for i := 0; ; i++ {
		r.clk.Advance(500 * time.Millisecond)
		won := acquire(t, b)
		expired := !r.clk.Now().Before(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).Add(ttl))
		if won && !expired {
			t.Fatalf("b won at +%s, before a's row expired", r.clk.Now().Sub(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)))
		}
		if won {
			break
		}
		if i > 20 {
			t.Fatal("b never took the row")
		}
	}
	if b.Backend() != BackendStore {
		t.Fatalf("b's backend %q, want %q", b.Backend(), BackendStore)
	}
}

// TestLeaseRedisOnlyForSome: a leader cut off from Redis alone leads on the
// row; a replica that reaches Redis wins the Redis lease once a's key
// expires but gives it back, since a holds the row: one leader, no flapping.
func TestLeaseRedisOnlyForSome(t *testing.T) {
	r := newRig()
	a, _ := r.replica(t, "a")
	c, _ := r.replica(t, "c")
	if !acquire(t, a) {
		t.Fatal("a did not win")
	}
	r.redis.down["a"] = true
	for range 6 {
		r.clk.Advance(time.Second)
		if _, err := a.Renew(context.Background()); err != nil {
			t.Fatalf("a's renewal: %v", err)
		}
		if acquire(t, c) {
			t.Fatal("c led beside a")
		}
	}
	if r.redis.holder == "c" {
		t.Error("c kept a Redis lease it may not lead with")
	}
	if a.Backend() != BackendStore {
		t.Errorf("a's backend %q, want %q", a.Backend(), BackendStore)
	}
}

// TestLeaseLostOnRedis: another holder of the Redis key while this one
// leads on Redis ends the term, as without the fallback.
func TestLeaseLostOnRedis(t *testing.T) {
	r := newRig()
	a, _ := r.replica(t, "a")
	if !acquire(t, a) {
		t.Fatal("a did not win")
	}
	r.redis.holder = "intruder"
	if _, err := a.Renew(context.Background()); !errors.Is(err, storage.ErrLeaseLost) {
		t.Fatalf("Renew = %v, want ErrLeaseLost", err)
	}
	// And a row taken by another ends it too.
	r.redis.holder = "a"
	r.rows.row.Token = "other"
	r.rows.row.Until = r.clk.Now().Add(time.Minute)
	if _, err := a.Renew(context.Background()); !errors.Is(err, storage.ErrLeaseLost) {
		t.Fatalf("Renew with the row another's = %v, want ErrLeaseLost", err)
	}
}
