package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

// authority is a store clock offset from the fake local clock; each read
// advances the local clock by rtt, answering at its middle.
type authority struct {
	local  *Fake
	offset time.Duration
	rtts   []time.Duration
	err    error
	reads  int
}

func (a *authority) read(context.Context) (time.Time, error) {
	rtt := a.rtts[a.reads%len(a.rtts)]
	a.reads++
	if a.err != nil {
		return time.Time{}, a.err
	}
	a.local.Advance(rtt / 2)
	t := a.local.Now().Add(a.offset)
	a.local.Advance(rtt - rtt/2)
	return t, nil
}

func TestSyncedNowIsStoreTime(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		offset time.Duration
		rtts   []time.Duration
	}{
		{"store ahead", 3 * time.Second, []time.Duration{2 * time.Millisecond}},
		{"store behind", -3 * time.Second, []time.Duration{2 * time.Millisecond}},
		{"in step", 0, []time.Duration{time.Millisecond}},
		{"shortest round trip wins", 1500 * time.Millisecond, []time.Duration{400 * time.Millisecond, 2 * time.Millisecond, 300 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := NewFake(t0)
			a := &authority{local: local, offset: tc.offset, rtts: tc.rtts}
			c := NewSynced(SyncedOptions{Read: a.read, Local: local})
			if err := c.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			local.Advance(7 * time.Second)
			want := local.Now().Add(tc.offset)
			if got := c.Now(); got.Sub(want).Abs() > time.Millisecond {
				t.Fatalf("Now = %s, want %s (store time)", got, want)
			}
			off, _, ok := c.Offset()
			if !ok || (off-tc.offset).Abs() > time.Millisecond {
				t.Fatalf("Offset = %s %v, want %s", off, ok, tc.offset)
			}
		})
	}
}

func TestSyncedRejectsSlowAndFailedSamples(t *testing.T) {
	t.Parallel()
	local := NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	a := &authority{local: local, offset: time.Second, rtts: []time.Duration{time.Second}}
	c := NewSynced(SyncedOptions{Read: a.read, Local: local, MaxRTT: 100 * time.Millisecond})
	if err := c.Sync(context.Background()); err == nil {
		t.Fatal("Sync accepted samples slower than MaxRTT")
	}
	if _, err := c.Healthy(); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("Healthy before any measurement = %v, want ErrNotSynced", err)
	}
	if got, want := c.Now(), local.Now(); !got.Equal(want) {
		t.Fatalf("unsynced Now = %s, want the local %s", got, want)
	}
	a.rtts = []time.Duration{time.Millisecond}
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.err = errors.New("store down")
	if err := c.Sync(context.Background()); err == nil {
		t.Fatal("Sync with a failing store succeeded")
	}
	if off, _, ok := c.Offset(); !ok || (off-time.Second).Abs() > time.Millisecond {
		t.Fatalf("a failed Sync changed the measurement: %s %v", off, ok)
	}
}

func TestSyncedHealthy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		offset  time.Duration
		age     time.Duration
		warn    bool
		wantErr bool
	}{
		{"small offset", 200 * time.Millisecond, 0, false, false},
		{"above warning", -3 * time.Second, 0, true, false},
		{"above hard limit", 11 * time.Second, 0, true, true},
		{"stale measurement", 0, 3 * time.Minute, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
			a := &authority{local: local, offset: tc.offset, rtts: []time.Duration{time.Millisecond}}
			c := NewSynced(SyncedOptions{Read: a.read, Local: local})
			if err := c.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			local.Advance(tc.age)
			warn, err := c.Healthy()
			if warn != tc.warn || (err != nil) != tc.wantErr {
				t.Fatalf("Healthy = %v, %v; want warn %v, error %v", warn, err, tc.warn, tc.wantErr)
			}
		})
	}
}
