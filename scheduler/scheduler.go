package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Errors that end a leadership term.
var (
	errLeaseDeadline = errors.New("scheduler: lease deadline passed without a successful renewal")
	errLeaseLost     = errors.New("scheduler: lease lost to another node")
	errShutdown      = errors.New("scheduler: shutting down")
	// errStoreUnreachable: no store round trip completed within StoreBound.
	errStoreUnreachable = errors.New("scheduler: no store round trip completed within the store bound")
	// errUnhealthy: Options.Healthy failed during the term (e.g. clock).
	errUnhealthy = errors.New("scheduler: replica not healthy")
)

// maxUnrung caps the doorbells a leader keeps for a retry after a failed
// push; the store's requeue rings the rest.
const maxUnrung = 100000

// Scheduler competes for the leader lease and, while it leads, dispatches
// due ticks, promotes manual triggers and reaps expired attempts.
type Scheduler struct {
	opts Options
	log  *slog.Logger

	cfg    atomic.Pointer[jobs.Config]
	reload chan struct{}
	wake   chan struct{}
	// warm is the schedule this replica keeps as a standby (warm.go).
	warm *warm

	leader atomic.Bool
	epoch  atomic.Int64

	// unrung holds doorbells whose push failed, for the reaper to ring
	// again (at most maxUnrung).
	unrungMu sync.Mutex
	unrung   []storage.QueueItem
	// queueDown is set by a failed push and cleared by a successful one:
	// while set, doorbells wait in unrung for the reaper's retry instead
	// of each dispatch waiting on a queue that does not answer (workers
	// claim from the store meanwhile).
	queueDown atomic.Bool

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
}

// New returns a Scheduler for cfg; Start runs it.
func New(cfg *jobs.Config, opts Options) *Scheduler {
	opts.setDefaults()
	s := &Scheduler{
		opts:   opts,
		log:    opts.Logger.With(slog.String("component", "scheduler"), slog.String("node", opts.Node)),
		reload: make(chan struct{}, 1),
		wake:   make(chan struct{}, 1),
		warm:   newWarm(),
	}
	s.cfg.Store(cfg)
	return s
}

// SetConfig swaps in a new, already validated config; the leader rebuilds its
// heap without a restart.
func (s *Scheduler) SetConfig(cfg *jobs.Config) {
	s.cfg.Store(cfg)
	select {
	case s.reload <- struct{}{}:
	default:
	}
	s.warm.wake()
}

// Wake makes the leader read pause state and manual triggers now instead of
// at its next poll.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// IsLeader reports whether this replica holds the lease and a fenced epoch.
func (s *Scheduler) IsLeader() bool { return s.leader.Load() }

// Epoch returns the epoch of the current or last leadership term, 0 if none.
func (s *Scheduler) Epoch() int64 { return s.epoch.Load() }

// Start runs the scheduler until Stop or ctx ends; it returns at once.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil || s.stopped {
		return errors.New("scheduler: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.runElector(ctx)
	}()
	go func() {
		defer wg.Done()
		s.warmLoop(ctx) // warm.go
	}()
	go func() {
		defer close(s.done)
		wg.Wait()
	}()
	return nil
}

// Stop stops dispatching, releases the lease so a standby takes over at once,
// and waits. It is idempotent and safe without Start.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	s.stopped = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// runElector is the standby loop: check this replica may lead, try the
// lease, lead while it holds, retry. A term that ended for a fault is
// followed by FaultBackoff without competing (I11), so that a replica cut
// off from the store does not take the lease straight back — waking on its
// own release notification — and stall the cluster.
func (s *Scheduler) runElector(ctx context.Context) {
	released := s.opts.Lease.Released(ctx)
	var notReady string
	for {
		wait, wake := s.opts.RetryInterval, released
		if err := s.ready(ctx); err != nil {
			if ctx.Err() == nil && err.Error() != notReady {
				s.log.Warn("not competing for the leader lease", slog.Any("error", err))
			}
			notReady = err.Error()
		} else {
			if notReady != "" {
				s.log.Info("competing for the leader lease again")
				notReady = ""
			}
			won, deadline, err := s.acquire(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("acquiring leader lease", slog.Any("error", err))
			}
			switch {
			case won:
				if fault := s.lead(ctx, deadline); fault != nil {
					wait, wake = s.opts.FaultBackoff, nil
				}
			case err == nil:
				// Another replica leads: keep its schedule warm.
				s.warm.standby()
				wait = s.untilExpiry(ctx, wait)
			}
		}
		if ctx.Err() != nil {
			return
		}
		t := s.opts.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
			t.Stop()
		case <-t.C():
		}
	}
}

// ready tells whether this replica may compete for the lease: it is
// healthy (clock, I9) and completes a store round trip within StoreBound
// (I11), so that it never holds the lease while blocked on the store.
func (s *Scheduler) ready(ctx context.Context) error {
	if err := s.opts.Healthy(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.StoreBound)
	defer cancel()
	if _, err := s.opts.Store.Now(ctx); err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("store did not answer within %s: %w", s.opts.StoreBound, err)
		}
		return fmt.Errorf("store unreachable: %w", err)
	}
	return nil
}

// expiryMargin is how long after the holder's lease should have expired a
// standby tries again, so that its SET arrives after the expiry.
const expiryMargin = 5 * time.Millisecond

// untilExpiry shortens a standby's wait to the expiry of the holder's lease
// when the lease can tell it (storage.LeaseExpiry): after a kill -9 of the
// leader the standbys try again the moment its key expires.
func (s *Scheduler) untilExpiry(ctx context.Context, wait time.Duration) time.Duration {
	le, ok := s.opts.Lease.(storage.LeaseExpiry)
	if !ok {
		return wait
	}
	left, err := storecall.Do(ctx, s.opts.StoreTimeout, le.Expiry)
	if err != nil {
		return wait
	}
	return min(wait, left+expiryMargin)
}

func (s *Scheduler) acquire(ctx context.Context) (bool, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StoreTimeout)
	defer cancel()
	return s.opts.Lease.Acquire(ctx)
}

// lead holds one leadership term: fence with a new epoch, then dispatch and
// reap until the lease deadline passes, the lease is lost, the store fences
// us out or stops answering, or ctx ends (then the lease is released for a
// fast hand-over). It returns the fault that ended the term, nil when it
// ended by shutdown or by another replica taking the lease.
func (s *Scheduler) lead(ctx context.Context, deadline time.Time) error {
	epoch, err := s.bumpEpoch(ctx, deadline)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("lease won but epoch not fenced; stepping down", slog.Any("error", err))
			s.storeError("bump_epoch", err)
		}
		// Released at once: the lease must not be held by a replica that
		// cannot reach the store (I11).
		s.release()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.epoch.Store(epoch)
	s.leader.Store(true)
	log := s.log.With(slog.Int64("epoch", epoch))
	log.Info("elected leader")
	if s.opts.Events.Elected != nil {
		s.opts.Events.Elected(epoch)
	}

	termCtx, endTerm := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		s.keepLease(termCtx, endTerm, deadline)
	}()
	go func() {
		defer wg.Done()
		s.watchStore(termCtx, endTerm, epoch) // storewatch.go
	}()
	go func() {
		defer wg.Done()
		s.reapLoop(termCtx, endTerm, epoch)
	}()
	go func() {
		defer wg.Done()
		s.pruneLoop(termCtx) // pruner.go
	}()
	if s.opts.Term != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.opts.Term(termCtx, epoch)
		}()
	}
	s.dispatchLoop(termCtx, endTerm, epoch)
	endTerm(errShutdown)
	wg.Wait()
	s.leader.Store(false)
	s.dropUnrung()
	cause := context.Cause(termCtx)
	if ctx.Err() != nil {
		cause = errShutdown
	}
	log.Info("stepped down", slog.String("reason", cause.Error()))
	if s.opts.Events.SteppedDown != nil {
		s.opts.Events.SteppedDown(epoch, cause)
	}
	if !errors.Is(cause, errLeaseLost) && !errors.Is(cause, errLeaseDeadline) {
		s.release()
	}
	if errors.Is(cause, errShutdown) || errors.Is(cause, errLeaseLost) {
		return nil
	}
	return cause
}

// bumpEpoch fences a new term. It must end before the lease deadline: a
// replica blocked on the store must not sit on the lease (I11).
func (s *Scheduler) bumpEpoch(ctx context.Context, deadline time.Time) (int64, error) {
	timeout := min(s.opts.StoreBound, deadline.Sub(s.opts.Clock.Now()))
	if timeout <= 0 {
		return 0, errors.New("bumping leader epoch: lease deadline already passed")
	}
	e, err := storecall.Do(ctx, timeout, func(ctx context.Context) (int64, error) {
		return s.opts.Store.BumpEpoch(ctx, s.opts.Node)
	})
	if err != nil {
		return 0, fmt.Errorf("bumping leader epoch: %w", err)
	}
	return e, nil
}

// release gives the lease back with a short timeout of its own, since the
// caller's context is usually done by now.
func (s *Scheduler) release() {
	if err := storecall.Exec(context.Background(), 2*time.Second, s.opts.Lease.Release); err != nil {
		s.log.Warn("releasing leader lease", slog.Any("error", err))
	}
}

// keepLease renews the lease every TTL/3 and ends the term at the local
// deadline whether or not the store or Redis answers (I3).
func (s *Scheduler) keepLease(ctx context.Context, endTerm context.CancelCauseFunc, deadline time.Time) {
	every := s.opts.Lease.TTL() / 3
	if every <= 0 {
		every = time.Second
	}
	dl := s.opts.Clock.NewTimer(deadline.Sub(s.opts.Clock.Now()))
	defer dl.Stop()
	tick := s.opts.Clock.NewTimer(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-dl.C():
			endTerm(errLeaseDeadline)
			return
		case <-tick.C():
			d, err := storecall.Do(ctx, every, s.opts.Lease.Renew)
			switch {
			case errors.Is(err, storage.ErrLeaseLost):
				endTerm(errLeaseLost)
				return
			case err != nil:
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("renewing leader lease", slog.Any("error", err))
				if s.opts.Events.RenewFailed != nil {
					s.opts.Events.RenewFailed(err)
				}
			default:
				dl.Reset(d.Sub(s.opts.Clock.Now()))
			}
			tick.Reset(every)
		}
	}
}

func (s *Scheduler) storeError(op string, err error) {
	if s.opts.Events.StoreError != nil {
		s.opts.Events.StoreError(op, err)
	}
}

// push rings the doorbell for queued runs. A failure is logged, not fatal:
// the doorbells are kept and rung again at the next reap (reaper.go), and a
// new leader rings every queued run at the start of its term (I4).
func (s *Scheduler) push(ctx context.Context, runs []jobs.Run) {
	if len(runs) == 0 {
		return
	}
	items := make([]storage.QueueItem, len(runs))
	for i, r := range runs {
		// Route: only replicas that may run it pop its doorbell.
		items[i] = storage.QueueItem{RunID: r.ID, Job: r.Job, Digest: r.Digest, NotBefore: r.NotBefore, Route: r.Route()}
	}
	s.pushItems(ctx, items, false)
}

// pushTimeout bounds ringing doorbells: they are hints, and a queue that
// does not answer must not hold up dispatch (workers poll the store).
const pushTimeout = 500 * time.Millisecond

// pushItems rings items, keeping those it could not ring for a retry.
// While the queue is down only the reaper's retry (probe) tries it.
func (s *Scheduler) pushItems(ctx context.Context, items []storage.QueueItem, probe bool) {
	if !probe && s.queueDown.Load() {
		s.stashUnrung(items)
		return
	}
	err := storecall.Exec(ctx, min(s.opts.StoreTimeout, pushTimeout), func(ctx context.Context) error { return s.opts.Queue.Push(ctx, items...) })
	if err == nil {
		if s.queueDown.Swap(false) {
			s.log.Info("queue answers again; ringing doorbells")
		}
		return
	}
	if ctx.Err() != nil {
		return
	}
	if !s.queueDown.Swap(true) {
		s.log.Warn("enqueueing runs; ringing them again at the next reap while the queue does not answer", slog.Int("runs", len(items)), slog.Any("error", err))
	}
	s.stashUnrung(items)
}

// stashUnrung keeps doorbells for the reaper's retry, up to maxUnrung.
func (s *Scheduler) stashUnrung(items []storage.QueueItem) {
	s.unrungMu.Lock()
	defer s.unrungMu.Unlock()
	if room := maxUnrung - len(s.unrung); room > 0 {
		// Beyond the cap the store's requeue (DueQueued) rings them.
		s.unrung = append(s.unrung, items[:min(room, len(items))]...)
	}
}

// retryUnrung rings again the doorbells whose push failed.
func (s *Scheduler) retryUnrung(ctx context.Context) {
	s.unrungMu.Lock()
	items := s.unrung
	s.unrung = nil
	s.unrungMu.Unlock()
	if len(items) > 0 {
		s.pushItems(ctx, items, true)
		return
	}
	if s.queueDown.Load() {
		// Nothing to ring: ask the queue whether it answers again.
		if _, err := storecall.Do(ctx, pushTimeout, s.opts.Queue.Len); err == nil && s.queueDown.Swap(false) {
			s.log.Info("queue answers again; ringing doorbells")
		}
	}
}

// dropUnrung forgets the failed doorbells at the end of a term: the next
// leader rings every queued run when its term starts.
func (s *Scheduler) dropUnrung() {
	s.unrungMu.Lock()
	s.unrung = nil
	s.unrungMu.Unlock()
}
