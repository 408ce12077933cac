package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/storage"
)

// liveOutput is the output of an attempt running here, on its way to the
// store while the attempt runs (live output): every OutputFlush, when
// new bytes arrived, a snapshot of the capped buffer (head and tail within
// the output limit, I8) replaces what the attempt stored before. The
// final result, written by Finish, stays authoritative.
type liveOutput struct {
	run jobs.Run
	buf *executor.CappedBuffer

	// mu is held while a snapshot is on its way to the store, so that the
	// flusher and a heartbeat carrying output never write out of order.
	mu sync.Mutex
	// sent is the buffer's Len at the last snapshot the store took.
	sent int64
	// last is when the last snapshot was taken: the next flush is due
	// OutputFlush later, whoever took it (a heartbeat carries output too).
	last time.Time
	// flushed is set once a write of output was sent, answered or not:
	// Finish must then delete the attempt's live output.
	flushed bool
}

// newLiveOutput returns the live output of run's attempt and registers
// it for the finish (flushedOutput); nil when live output is off.
func (p *Pool) newLiveOutput(run jobs.Run) *liveOutput {
	if p.opts.OutputFlush < 0 {
		return nil
	}
	l := &liveOutput{run: run, buf: executor.NewCappedBuffer(p.opts.OutputLimit)}
	p.outputs.Store(run.ID, l)
	return l
}

// buffer is where the executor writes the attempt's output; nil (the
// executor's own buffer) when live output is off.
func (l *liveOutput) buffer() *executor.CappedBuffer {
	if l == nil {
		return nil
	}
	return l.buf
}

// done unregisters l once its attempt is recorded.
func (p *Pool) doneLiveOutput(l *liveOutput) {
	if l != nil {
		p.outputs.CompareAndDelete(l.run.ID, l)
	}
}

// flushedOutput reports whether run's attempt may have stored live output.
func (p *Pool) flushedOutput(run jobs.Run) bool {
	v, ok := p.outputs.Load(run.ID)
	if !ok {
		return false
	}
	l := v.(*liveOutput)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.run.Attempt == run.Attempt && l.flushed
}

// take returns a snapshot when bytes arrived since the last one the store
// took, holding mu until the caller reports the outcome with putOutput; ok is
// false, holding nothing, when there is nothing new. With wait false it
// gives up when a write is in flight (the heartbeat must not wait).
func (l *liveOutput) take(now time.Time, wait bool) (out storage.LiveOutput, total int64, ok bool) {
	if l == nil {
		return out, 0, false
	}
	if wait {
		l.mu.Lock()
	} else if !l.mu.TryLock() {
		return out, 0, false
	}
	if l.buf.Len() == l.sent {
		l.mu.Unlock()
		return out, 0, false
	}
	out.Output, out.Dropped, total = l.buf.Snapshot()
	l.flushed, l.last = true, now
	return out, total, true
}

// lastTaken is when the last snapshot was taken.
func (l *liveOutput) lastTaken() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// put ends a take of out: the store took the snapshot of total bytes, or
// not.
func (p *Pool) putOutput(l *liveOutput, out storage.LiveOutput, total int64, stored, heartbeat bool) {
	if stored {
		l.sent = total
	}
	l.mu.Unlock()
	if stored && p.opts.Events.OutputStored != nil {
		p.opts.Events.OutputStored(l.run, len(out.Output), heartbeat)
	}
}

// flushOutput writes l to the store every OutputFlush while bytes arrive,
// until ctx ends or the store says the attempt is no longer this node's
// (the heartbeat, which gets the same answer, cancels the attempt).
func (p *Pool) flushOutput(ctx context.Context, l *liveOutput) {
	if l == nil {
		return
	}
	t := p.opts.Clock.NewTimer(p.opts.OutputFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		now := p.opts.Clock.Now()
		if due := l.lastTaken().Add(p.opts.OutputFlush); now.Before(due) {
			// A heartbeat carried the output meanwhile.
			t.Reset(due.Sub(now))
			continue
		}
		if out, total, ok := l.take(now, true); ok {
			err := storecall.Exec(ctx, p.opts.StoreTimeout, func(ctx context.Context) error {
				return p.opts.Store.FlushOutput(ctx, storage.OutputParams{RunID: l.run.ID, Attempt: l.run.Attempt,
					Node: p.opts.Node, LiveOutput: out})
			})
			p.putOutput(l, out, total, err == nil, false)
			switch {
			case errors.Is(err, storage.ErrLeaseLost):
				return
			case err != nil && ctx.Err() == nil:
				p.storeError("output", err)
				p.log.Debug("storing live output; retrying at the next flush", slog.Int64("run_id", l.run.ID), slog.Any("error", err))
			}
		}
		t.Reset(p.opts.OutputFlush)
	}
}
