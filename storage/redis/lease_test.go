package redis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestLease(t *testing.T, p *Pool, opts LeaseOptions) *Lease {
	t.Helper()
	l, err := NewLease(p, opts)
	if err != nil {
		t.Fatalf("NewLease: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLeaseOptions(t *testing.T) {
	t.Parallel()
	p, err := NewPool("redis://127.0.0.1:1/0") // never dialed
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	host, _ := os.Hostname()
	tests := []struct {
		name       string
		opts       LeaseOptions
		wantTTL    time.Duration
		wantMargin time.Duration
		wantErr    error
	}{
		{"defaults", LeaseOptions{}, DefaultLeaseTTL, time.Second, nil},
		{"margin is TTL/6", LeaseOptions{TTL: 60 * time.Second}, 60 * time.Second, 10 * time.Second, nil},
		{"margin raised to minimum", LeaseOptions{TTL: 300 * time.Millisecond}, 300 * time.Millisecond, MinLeaseMargin, nil},
		{"explicit margin", LeaseOptions{Margin: 500 * time.Millisecond}, DefaultLeaseTTL, 500 * time.Millisecond, nil},
		{"margin below minimum", LeaseOptions{Margin: 50 * time.Millisecond}, 0, 0, ErrBadLeaseOptions},
		{"margin not below TTL", LeaseOptions{TTL: time.Second, Margin: time.Second}, 0, 0, ErrBadLeaseOptions},
		{"TTL too short", LeaseOptions{TTL: 150 * time.Millisecond}, 0, 0, ErrBadLeaseOptions},
		{"TTL not whole ms", LeaseOptions{TTL: time.Second + time.Microsecond}, 0, 0, ErrBadLeaseOptions},
		{"token too long", LeaseOptions{Token: strings.Repeat("n", maxTokenLen+1)}, 0, 0, ErrBadLeaseOptions},
		{"bad cluster", LeaseOptions{Cluster: "a b"}, 0, 0, ErrBadCluster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLease(p, tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NewLease error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewLease: %v", err)
			}
			defer l.Close()
			if l.TTL() != tt.wantTTL || l.Margin() != tt.wantMargin {
				t.Errorf("TTL, Margin = %s, %s; want %s, %s", l.TTL(), l.Margin(), tt.wantTTL, tt.wantMargin)
			}
			if tt.opts.Token == "" && !strings.HasPrefix(l.Token(), host+"/") {
				t.Errorf("default token %q does not start with the host name %q", l.Token(), host)
			}
			if tt.opts.Cluster == "" && l.key != "tock:{default}:leader" {
				t.Errorf("key = %q", l.key)
			}
		})
	}
	if _, err := NewLease(nil, LeaseOptions{}); !errors.Is(err, ErrBadLeaseOptions) {
		t.Errorf("NewLease(nil) error = %v, want ErrBadLeaseOptions", err)
	}
}

func TestNewTokenUnique(t *testing.T) {
	t.Parallel()
	a, b := NewToken("node-1"), NewToken("node-1")
	if a == b || !strings.HasPrefix(a, "node-1/") {
		t.Errorf("NewToken gave %q and %q", a, b)
	}
}

func TestLeaseAcquireIsExclusive(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	a := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "a"})
	b := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "b"})

	if won, _, err := a.Acquire(ctx); err != nil || !won {
		t.Fatalf("a.Acquire = %v, %v; want won", won, err)
	}
	if won, dl, err := b.Acquire(ctx); err != nil || won || !dl.IsZero() {
		t.Fatalf("b.Acquire = %v, %v, %v; want lost with zero deadline", won, dl, err)
	}
	// The holder taking its own key again wins (a term that ended at its
	// local deadline must not wait for the key's expiry).
	if won, _, err := a.Acquire(ctx); err != nil || !won {
		t.Fatalf("a.Acquire again = %v, %v; want won", won, err)
	}
	token, ttl, err := b.Holder(ctx)
	if err != nil || token != "a" || ttl <= 0 || ttl > a.TTL() {
		t.Fatalf("Holder = %q, %s, %v; want a with 0 < ttl <= %s", token, ttl, err, a.TTL())
	}
	if left, err := b.Expiry(ctx); err != nil || left <= 0 || left > a.TTL() {
		t.Fatalf("Expiry while a holds it = %s, %v; want 0 < left <= %s", left, err, a.TTL())
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if left, err := b.Expiry(ctx); err != nil || left != 0 {
		t.Fatalf("Expiry with no holder = %s, %v; want 0", left, err)
	}
	// Another cluster's lease is independent.
	other := newTestLease(t, p, LeaseOptions{Cluster: cluster + "-other", Token: "c"})
	t.Cleanup(func() { rdo(t, p, "DEL", other.key) })
	if won, _, err := other.Acquire(ctx); err != nil || !won {
		t.Fatalf("other cluster Acquire = %v, %v; want won", won, err)
	}
}

func TestLeaseDeadlineCountsFromSend(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	fake := clock.NewFake(t0)
	l := newTestLease(t, p, LeaseOptions{Cluster: cluster, TTL: 6 * time.Second, Clock: steppingClock{fake, time.Second}})
	want := t0.Add(6*time.Second - time.Second) // TTL − Margin from the first reading

	won, dl, err := l.Acquire(ctx)
	if err != nil || !won {
		t.Fatalf("Acquire = %v, %v", won, err)
	}
	if !dl.Equal(want) {
		t.Errorf("Acquire deadline = %s, want %s (clock read before sending + TTL − Margin)", dl, want)
	}

	sent := fake.Now()
	dl, err = l.Renew(ctx)
	if err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if want := sent.Add(5 * time.Second); !dl.Equal(want) {
		t.Errorf("Renew deadline = %s, want %s", dl, want)
	}

	// Re-acquiring an own key also counts from the first send.
	sent = fake.Now()
	won, dl, err = l.Acquire(ctx)
	if err != nil || !won {
		t.Fatalf("re-Acquire = %v, %v", won, err)
	}
	if want := sent.Add(5 * time.Second); !dl.Equal(want) {
		t.Errorf("re-Acquire deadline = %s, want %s", dl, want)
	}
}

func TestLeaseRenewExtends(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	l := newTestLease(t, p, LeaseOptions{Cluster: cluster})
	if won, _, err := l.Acquire(ctx); err != nil || !won {
		t.Fatalf("Acquire = %v, %v", won, err)
	}
	rdo(t, p, "PEXPIRE", l.key, 1000)
	if _, err := l.Renew(ctx); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	pttl, err := redigo.Int64(rdo(t, p, "PTTL", l.key), nil)
	if err != nil || pttl <= 5000 || pttl > 6000 {
		t.Fatalf("PTTL after Renew = %d, %v; want in (5000, 6000]", pttl, err)
	}
}

func TestLeaseRenewLost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steal func(t *testing.T, p *Pool, key string)
		want  any
	}{
		{"stolen", func(t *testing.T, p *Pool, key string) { rdo(t, p, "SET", key, "thief", "PX", 60000) }, "thief"},
		{"deleted", func(t *testing.T, p *Pool, key string) { rdo(t, p, "DEL", key) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, cluster := newTestPool(t)
			ctx := ctxT(t)
			l := newTestLease(t, p, LeaseOptions{Cluster: cluster})
			if won, _, err := l.Acquire(ctx); err != nil || !won {
				t.Fatalf("Acquire = %v, %v", won, err)
			}
			tt.steal(t, p, l.key)
			dl, err := l.Renew(ctx)
			if !errors.Is(err, storage.ErrLeaseLost) || !dl.IsZero() {
				t.Fatalf("Renew = %v, %v; want ErrLeaseLost", dl, err)
			}
			got := rdo(t, p, "GET", l.key)
			if b, ok := got.([]byte); ok {
				got = string(b)
			}
			if got != tt.want {
				t.Errorf("key after failed Renew = %v, want %v (Renew must not create or change it)", got, tt.want)
			}
		})
	}
}

func TestLeaseRedisErrorIsNotLeaseLost(t *testing.T) {
	t.Parallel()
	p, err := NewPool("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l, err := NewLease(p, LeaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := ctxT(t)
	if won, _, err := l.Acquire(ctx); err == nil || won {
		t.Errorf("Acquire on a dead Redis = %v, %v; want an error", won, err)
	}
	if _, err := l.Renew(ctx); err == nil || errors.Is(err, storage.ErrLeaseLost) {
		t.Errorf("Renew on a dead Redis error = %v; want an error that is not ErrLeaseLost", err)
	}
	if err := l.Release(ctx); err == nil {
		t.Error("Release on a dead Redis succeeded")
	}
	if _, _, err := l.Holder(ctx); err == nil {
		t.Error("Holder on a dead Redis succeeded")
	}
}

func TestLeaseReleaseDeletesOnlyOwnToken(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	a := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "a"})
	b := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "b"})
	if won, _, err := a.Acquire(ctx); err != nil || !won {
		t.Fatalf("a.Acquire = %v, %v", won, err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatalf("b.Release: %v", err)
	}
	if token, _, err := a.Holder(ctx); err != nil || token != "a" {
		t.Fatalf("after b.Release, Holder = %q, %v; want a", token, err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("a.Release: %v", err)
	}
	if token, ttl, err := a.Holder(ctx); err != nil || token != "" || ttl != 0 {
		t.Fatalf("after a.Release, Holder = %q, %s, %v; want none", token, ttl, err)
	}
	if won, _, err := b.Acquire(ctx); err != nil || !won {
		t.Fatalf("b.Acquire after release = %v, %v; want won at once", won, err)
	}
	if _, err := a.Renew(ctx); !errors.Is(err, storage.ErrLeaseLost) {
		t.Fatalf("a.Renew after release = %v; want ErrLeaseLost", err)
	}
}

// TestLeaseReleasePublishesOnlyWhenHeld listens on the channel directly:
// pub/sub keeps order, so the messages before the test's own sentinel are
// exactly the releases that published.
func TestLeaseReleasePublishesOnlyWhenHeld(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	a := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "a"})
	b := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "b"})

	c, err := p.dial(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	psc := redigo.PubSubConn{Conn: c}
	if err := psc.Subscribe(a.channel); err != nil {
		t.Fatal(err)
	}
	if v, ok := psc.ReceiveWithTimeout(waitFor).(redigo.Subscription); !ok || v.Kind != "subscribe" {
		t.Fatalf("subscribe reply = %v", v)
	}

	if won, _, err := a.Acquire(ctx); err != nil || !won {
		t.Fatalf("a.Acquire = %v, %v", won, err)
	}
	if err := b.Release(ctx); err != nil { // not the holder: silent
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil { // no longer the holder: silent
		t.Fatal(err)
	}
	rdo(t, p, "PUBLISH", a.channel, "sentinel")

	var got []string
	for len(got) == 0 || got[len(got)-1] != "sentinel" {
		switch v := psc.ReceiveWithTimeout(waitFor).(type) {
		case redigo.Message:
			got = append(got, string(v.Data))
		case error:
			t.Fatalf("receive: %v (got %v)", v, got)
		}
	}
	if want := []string{"a", "sentinel"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("messages = %v, want %v", got, want)
	}
}

func TestLeaseReleasedSignalsStandby(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	leader := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "leader"})
	standby := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "standby"})
	subscribed := make(chan struct{}, 10)
	standby.onSubscribed = func() { subscribed <- struct{}{} }

	released := standby.Released(ctx)
	recv(t, subscribed, "subscription")
	if won, _, err := leader.Acquire(ctx); err != nil || !won {
		t.Fatalf("leader.Acquire = %v, %v", won, err)
	}
	if err := leader.Release(ctx); err != nil {
		t.Fatal(err)
	}
	recv(t, released, "release signal")
	if won, _, err := standby.Acquire(ctx); err != nil || !won {
		t.Fatalf("standby.Acquire after signal = %v, %v; want won", won, err)
	}
	// Several releases while nobody reads coalesce into one pending signal
	// and never block the subscriber.
	for range 3 {
		if err := standby.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if won, _, err := standby.Acquire(ctx); err != nil || !won {
			t.Fatalf("re-Acquire = %v, %v", won, err)
		}
	}
	if err := standby.Release(ctx); err != nil {
		t.Fatal(err)
	}
	recv(t, released, "coalesced signal")
}

func TestLeaseReleasedEndsWithContextAndClose(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	l := newTestLease(t, p, LeaseOptions{Cluster: cluster})
	subscribed := make(chan struct{}, 10)
	l.onSubscribed = func() { subscribed <- struct{}{} }

	ctx, cancel := context.WithCancel(context.Background())
	l.Released(ctx)
	recv(t, subscribed, "subscription")
	cancel()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	recv(t, done, "subscription goroutine to end after ctx was canceled")

	l.Released(context.Background())
	recv(t, subscribed, "second subscription")
	closed := make(chan struct{})
	go func() {
		l.Close()
		close(closed)
	}()
	recv(t, closed, "Close to end the subscription")
	// After Close, Released starts nothing (goleak checks) and never fires.
	ch := l.Released(context.Background())
	select {
	case <-ch:
		t.Fatal("Released after Close fired")
	default:
	}
}

func TestLeaseReleasedReconnects(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	fake := clock.NewFake(t0)
	logs := &logBuffer{}
	standby := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "standby", Clock: fake, Logger: logs.logger()})
	leader := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "leader"})
	subscribed := make(chan struct{}, 10)
	standby.onSubscribed = func() { subscribed <- struct{}{} }

	released := standby.Released(ctx)
	recv(t, subscribed, "subscription")
	killClient(t, p, standby.subName)

	// The subscriber backs off on the injected clock, then subscribes again.
	recv(t, fake.BlockUntil(1), "backoff timer")
	fake.Advance(subBackoffMax)
	recv(t, subscribed, "re-subscription")
	if n := logs.count("lease release subscription lost"); n != 1 {
		t.Errorf("outage logged %d times, want 1", n)
	}
	if n := logs.count("lease release subscription restored"); n != 1 {
		t.Errorf("recovery logged %d times, want 1", n)
	}

	if won, _, err := leader.Acquire(ctx); err != nil || !won {
		t.Fatalf("leader.Acquire = %v, %v", won, err)
	}
	if err := leader.Release(ctx); err != nil {
		t.Fatal(err)
	}
	recv(t, released, "release signal after reconnect")
}

// killClient closes the server side of the connection named name.
func killClient(t *testing.T, p *Pool, name string) {
	t.Helper()
	list, err := redigo.String(rdo(t, p, "CLIENT", "LIST"), nil)
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		fields := strings.Fields(line)
		var id string
		named := false
		for _, f := range fields {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && id != "" {
			rdo(t, p, "CLIENT", "KILL", "ID", id)
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d clients named %s, want 1", killed, name)
	}
}

func TestLeaseExpiresAfterTTL(t *testing.T) {
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	const ttl = 300 * time.Millisecond
	a := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "a", TTL: ttl})
	b := newTestLease(t, p, LeaseOptions{Cluster: cluster, Token: "b", TTL: ttl})

	start := time.Now()
	if won, dl, err := a.Acquire(ctx); err != nil || !won {
		t.Fatalf("a.Acquire = %v, %v", won, err)
	} else if want := start.Add(ttl - MinLeaseMargin); dl.Before(want) || dl.After(time.Now().Add(ttl-MinLeaseMargin)) {
		t.Errorf("deadline %s not TTL − Margin after the send", dl)
	}
	if won, _, _ := b.Acquire(ctx); won {
		t.Fatal("b won a held lease")
	}
	// Redis expires the key on its own time; poll until b wins.
	for {
		won, _, err := b.Acquire(ctx)
		if err != nil {
			t.Fatalf("b.Acquire: %v", err)
		}
		if won {
			break
		}
		if time.Since(start) > waitFor {
			t.Fatal("lease never expired")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Redis time and ours may differ by a clock tick; 250ms proves the key
	// lived for its TTL, not that it was never set.
	if d := time.Since(start); d < ttl-50*time.Millisecond {
		t.Errorf("b won after %s, before a's TTL of %s", d, ttl)
	}
	if _, err := a.Renew(ctx); !errors.Is(err, storage.ErrLeaseLost) {
		t.Errorf("a.Renew after expiry = %v; want ErrLeaseLost", err)
	}
}
