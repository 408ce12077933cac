package clock

import (
	"context"
	"testing"
	"time"
)

var loopStart = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// waitArmed waits until n timers are armed on clk.
func waitArmed(t *testing.T, clk *Fake, n int) {
	t.Helper()
	select {
	case <-clk.BlockUntil(n):
	case <-time.After(10 * time.Second):
		t.Fatalf("%d timers armed, want %d", clk.Timers(), n)
	}
}

func TestLoopWaitsWhatFReturns(t *testing.T) {
	t.Parallel()
	clk := NewFake(loopStart)
	calls := make(chan time.Time, 10)
	nexts := []time.Duration{2 * time.Second, 3 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop(context.Background(), clk, time.Second, func(context.Context) (time.Duration, bool) {
			calls <- clk.Now()
			if len(nexts) == 0 {
				return 0, true
			}
			next := nexts[0]
			nexts = nexts[1:]
			return next, false
		})
	}()
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		waitArmed(t, clk, 1)
		clk.Advance(d - time.Millisecond)
		select {
		case at := <-calls:
			t.Fatalf("f called at %s, before its timer", at.Format(time.TimeOnly))
		default:
		}
		clk.Advance(time.Millisecond)
		if at := <-calls; !at.Equal(clk.Now()) {
			t.Errorf("f called at %s, want %s", at.Format(time.TimeOnly), clk.Now().Format(time.TimeOnly))
		}
	}
	<-done // f said stop
	if n := clk.Timers(); n != 0 {
		t.Errorf("%d timers armed after the loop ended", n)
	}
	if !clk.Now().Equal(loopStart.Add(6 * time.Second)) {
		t.Errorf("clock at %s", clk.Now())
	}
}

func TestLoopEndsWithCtx(t *testing.T) {
	t.Parallel()
	clk := NewFake(loopStart)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop(ctx, clk, time.Minute, func(context.Context) (time.Duration, bool) {
			t.Error("f called after ctx ended")
			return time.Minute, false
		})
	}()
	waitArmed(t, clk, 1)
	cancel()
	<-done
	if n := clk.Timers(); n != 0 {
		t.Errorf("%d timers armed after the loop ended", n)
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	clk := NewFake(loopStart)
	woke := make(chan bool)
	go func() { woke <- Sleep(context.Background(), clk, time.Second) }()
	waitArmed(t, clk, 1)
	clk.Advance(time.Second)
	if !<-woke {
		t.Error("Sleep = false after its duration, want true")
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { woke <- Sleep(ctx, clk, time.Hour) }()
	waitArmed(t, clk, 1)
	cancel()
	if <-woke {
		t.Error("Sleep = true after ctx ended, want false")
	}
	if n := clk.Timers(); n != 0 {
		t.Errorf("%d timers armed after Sleep returned", n)
	}
}
