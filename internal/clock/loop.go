package clock

import (
	"context"
	"time"
)

// Loop calls f each time a timer on c fires, first after first, then after
// the duration f returns, until ctx ends or f returns stop. It arms one
// timer, only while it waits: a test that counts armed timers (Fake's
// BlockUntil) sees one per idle loop and none while f runs.
func Loop(ctx context.Context, c Clock, first time.Duration, f func(ctx context.Context) (next time.Duration, stop bool)) {
	t := c.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		next, stop := f(ctx)
		if stop {
			return
		}
		t.Reset(next)
	}
}

// Sleep waits d on c. It returns false, at once, when ctx ends first.
func Sleep(ctx context.Context, c Clock, d time.Duration) bool {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}
