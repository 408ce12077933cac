package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tock-sched/tock/storage"
)

// Options.Term runs with each leadership term: it starts with the term's
// epoch, its context ends with the term, and the leader steps down only
// once it returned.
func TestTermHookRunsWithTheTerm(t *testing.T) {
	t.Parallel()
	r := newRig(t, everyMinute)
	started := make(chan int64, 1)
	ended := make(chan error, 1)
	proceed := make(chan struct{})
	r.s.opts.Term = func(ctx context.Context, epoch int64) {
		started <- epoch
		<-ctx.Done()
		ended <- context.Cause(ctx)
		<-proceed
	}
	epoch := r.start()
	select {
	case got := <-started:
		if got != epoch {
			t.Errorf("term hook started with epoch %d, want the term's %d", got, epoch)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("term hook not started")
	}

	// Another leader fences this one out: the term ends, and so does the
	// hook's context.
	if _, err := r.store.BumpEpoch(context.Background(), "n2"); err != nil {
		t.Fatal(err)
	}
	r.s.Wake()
	select {
	case cause := <-ended:
		if !errors.Is(cause, storage.ErrFenced) {
			t.Errorf("term hook's context ended with %v, want ErrFenced", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("term hook's context did not end with the term")
	}

	// The term waits for its hook.
	if !r.s.IsLeader() {
		t.Error("the leader stepped down before its term hook returned")
	}
	select {
	case err := <-r.down:
		t.Fatalf("stepped down (%v) before the term hook returned", err)
	default:
	}
	close(proceed)
	waitSignal(t, r.down, "step-down once the term hook returned")
	if r.s.IsLeader() {
		t.Error("still leader after stepping down")
	}
}
