package storecall

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDoBoundsTheCall(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	var inner context.Context
	got, err := Do(parent, time.Hour, func(ctx context.Context) (int, error) {
		inner = ctx
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) <= 59*time.Minute {
			t.Errorf("deadline %v (set %v), want about an hour from now", dl, ok)
		}
		return 42, errors.New("boom")
	})
	if got != 42 || err == nil || err.Error() != "boom" {
		t.Errorf("Do = %d, %v; want f's 42 and boom", got, err)
	}
	if inner.Err() == nil {
		t.Error("the call's context outlives Do")
	}
	if parent.Err() != nil {
		t.Error("Do ended its caller's context")
	}
}

func TestDoEndsWithItsCaller(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Do(parent, time.Hour, func(ctx context.Context) (struct{}, error) { return struct{}{}, ctx.Err() })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the caller's cancellation", err)
	}
}

func TestExecTimesOut(t *testing.T) {
	err := Exec(context.Background(), time.Millisecond, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
}
