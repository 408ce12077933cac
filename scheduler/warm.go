package scheduler

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// A warm standby keeps the schedule a leader would build from its config —
// the heap of every job's next tick — and follows it on the clock, noting
// the ticks it lets pass. When it wins the lease it needs neither every
// job's cursor nor a rebuild: the last leader recorded a watermark with
// its dispatches (every tick up to it has its row), so the new leader plans
// only the ticks it noted after the watermark and goes on with the heap.
// At a million jobs that turns seconds of reading and building into a few
// milliseconds (BENCHMARKS.md, failover).
//
// The warm copy is used only when it provably covers what the last leader
// may have left undone: the same schedule (digest of every job's name and
// digest), and knownFrom no later than the watermark. Otherwise the term
// starts cold, from the store's cursors, as before.

// passedTick is a tick a standby let pass.
type passedTick struct {
	job *jobs.Job
	at  time.Time
}

// warmState is a standby's schedule.
type warmState struct {
	cfg    *jobs.Config
	digest string
	sched  *schedule
	// passed are the ticks let pass since knownFrom, in the order they
	// passed (ascending within a job).
	passed []passedTick
	// knownFrom: every tick after it of every job of cfg is in passed,
	// at or after the job's entry in sched, or already dispatched.
	knownFrom time.Time
}

// warm holds a replica's warm state between terms. A term takes it at its
// start and gives its own schedule back at its end.
type warm struct {
	mu sync.Mutex
	st *warmState
	// taken is set while a term holds the schedule; gen counts takes, so
	// that a build started before one is not installed after it.
	taken bool
	gen   int
	// active is set once this replica has been a standby (lost a lease
	// race): a replica that leads at once (the in-process lease) never
	// builds a second copy of its schedule.
	active bool
	kick   chan struct{}
}

func newWarm() *warm { return &warm{kick: make(chan struct{}, 1)} }

// wake makes the warm loop look at its state now.
func (w *warm) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// standby marks the replica as a standby and wakes the loop.
func (w *warm) standby() {
	w.mu.Lock()
	w.active = true
	w.mu.Unlock()
	w.wake()
}

// take hands the warm state to a starting term; nil when there is none
// (not built yet, or being built).
func (w *warm) take() *warmState {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.st
	w.st, w.taken = nil, true
	w.gen++
	return st
}

// give returns a term's schedule at its end. The term may have planned
// ticks up to the lookahead ahead whose rows it could not write, so what
// it hands back is known only from end+lookahead on.
func (w *warm) give(st *warmState) {
	w.mu.Lock()
	w.st, w.taken = st, false
	w.mu.Unlock()
	w.wake()
}

// warmKeep is how long a standby keeps the ticks it let pass: longer than
// a leader's watermark can lag behind the clock when it dies (a poll
// interval, the lease TTL and the election).
func (s *Scheduler) warmKeep() time.Duration {
	return min(max(4*s.opts.Lease.TTL(), 30*time.Second), 10*time.Minute)
}

// warmLoop keeps the standby's schedule: built once the replica has been a
// standby, rebuilt (incrementally) when the config changes, followed on
// the clock every poll interval. While the replica leads, the term has the
// schedule and the loop waits, arming no timer.
func (s *Scheduler) warmLoop(ctx context.Context) {
	w := s.warm
	for {
		w.mu.Lock()
		idle := !w.active || w.taken
		w.mu.Unlock()
		if idle {
			select {
			case <-ctx.Done():
				return
			case <-w.kick:
				continue
			}
		}
		s.keepWarm(ctx)
		t := s.opts.Clock.NewTimer(s.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.kick:
			t.Stop()
		case <-t.C():
		}
	}
}

// keepWarm builds, reloads or advances the warm state.
func (s *Scheduler) keepWarm(ctx context.Context) {
	w := s.warm
	cfg := s.cfg.Load()
	w.mu.Lock()
	st, gen := w.st, w.gen
	w.mu.Unlock()
	if st == nil {
		// Built outside the lock: at a million jobs it takes a second or
		// two, and a term starting meanwhile starts cold.
		begin := s.opts.Clock.Now()
		st = s.buildWarm(cfg, begin)
		w.mu.Lock()
		if w.gen != gen || w.taken || ctx.Err() != nil {
			w.mu.Unlock()
			return
		}
		w.st = st
		w.mu.Unlock()
		s.log.Info("standby schedule built", slog.Int("jobs", st.sched.len()),
			slog.Duration("took", s.opts.Clock.Now().Sub(begin)))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.st == nil {
		return
	}
	now := s.opts.Clock.Now()
	if w.st.cfg != cfg {
		s.reloadWarm(w.st, cfg, now)
	}
	s.advanceWarm(w.st, now)
}

// buildWarm builds a standby's schedule from cfg: every job's next tick
// after now.
func (s *Scheduler) buildWarm(cfg *jobs.Config, now time.Time) *warmState {
	st := &warmState{cfg: cfg, digest: scheduleDigest(cfg), sched: newSchedule(s.dispatchLead), knownFrom: now}
	st.sched.rekey(cfg)
	for _, j := range cfg.Jobs {
		st.sched.set(j, j.Next(now))
	}
	return st
}

// reloadWarm moves st to cfg as a leader's reload does: unchanged jobs keep
// their place, changed and new ones start from now (so nothing before now
// is known of them), removed ones go.
func (s *Scheduler) reloadWarm(st *warmState, cfg *jobs.Config, now time.Time) {
	st.sched.rekey(cfg)
	changed := false
	for i, j := range cfg.Jobs {
		if e := st.sched.entryOf(i); e != nil && e.job.Digest == j.Digest {
			e.job = j
			continue
		}
		changed = true
		st.sched.set(j, j.Next(now))
	}
	st.cfg, st.digest = cfg, scheduleDigest(cfg)
	// The passed ticks point at the old definitions; a term plans them with
	// the new ones.
	kept := st.passed[:0]
	for _, p := range st.passed {
		if j := cfg.Job(p.job.Name); j != nil && j.Digest == p.job.Digest {
			kept = append(kept, passedTick{job: j, at: p.at})
		}
	}
	clear(st.passed[len(kept):])
	st.passed = kept
	if changed {
		st.knownFrom = later(st.knownFrom, now)
	}
}

// advanceWarm lets the ticks pass whose dispatch time is more than the
// lookahead behind now (so every passed tick is at or before now; the
// nearer ones stay in the heap, where a new leader's first fire finds
// them), and forgets passed ticks older than warmKeep.
func (s *Scheduler) advanceWarm(st *warmState, now time.Time) {
	upTo := now.Add(-s.opts.Lookahead).UnixNano()
	for {
		e := st.sched.peek()
		if e == nil || e.at > upTo {
			break
		}
		st.passed = append(st.passed, passedTick{job: e.job, at: e.tick()})
		st.sched.set(e.job, e.job.Next(e.tick()))
	}
	cut := now.Add(-s.warmKeep())
	n := 0
	for n < len(st.passed) && st.passed[n].at.Before(cut) {
		st.knownFrom = later(st.knownFrom, st.passed[n].at)
		n++
	}
	if n > 0 {
		st.passed = slices.Delete(st.passed, 0, n)
	}
}

// scheduleDigest identifies a config's schedule: every job's name and
// digest, in any order (sums and a xor of per-job hashes, so that replicas
// listing the same jobs in another order agree), and the number of jobs;
// 64 hex digits.
func scheduleDigest(cfg *jobs.Config) string {
	var lanes [4]uint64
	h := fnv.New128a()
	var b [16]byte
	for _, j := range cfg.Jobs {
		h.Reset()
		h.Write([]byte(j.Name))
		h.Write([]byte{0})
		h.Write([]byte(j.Digest))
		h.Sum(b[:0])
		lo, hi := binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
		lanes[0] += lo
		lanes[1] += hi
		lanes[2] ^= lo ^ hi<<1
	}
	lanes[3] = uint64(len(cfg.Jobs))
	var out [32]byte
	for i, v := range lanes {
		binary.LittleEndian.PutUint64(out[8*i:], v)
	}
	return hex.EncodeToString(out[:])
}

// startWarm starts the term from the standby's schedule when it covers
// what the last leader may have left undone; false means start cold.
func (t *term) startWarm(ctx context.Context) (bool, error) {
	s := t.s
	begin := s.opts.Clock.Now()
	st := s.warm.take()
	reason := ""
	switch {
	case st == nil:
		reason = "no standby schedule"
	case st.cfg != s.cfg.Load():
		reason = "config changed since the standby schedule was built"
	}
	var wm storage.Watermark
	if reason == "" {
		var err error
		wm, err = storecall.Do(ctx, s.opts.StoreTimeout, s.opts.Store.Watermark)
		if err != nil {
			return false, fmt.Errorf("reading dispatch watermark: %w", err)
		}
		switch {
		case wm.At.IsZero():
			reason = "no watermark recorded"
		case wm.Schedule != st.digest:
			reason = "the last leader recorded another schedule"
		case st.knownFrom.After(wm.At):
			reason = "the standby schedule does not reach back to the watermark"
		}
	}
	if reason != "" {
		t.log.Info("starting cold: building the schedule from the store's cursors", slog.String("reason", reason))
		if s.opts.Events.TermStart != nil {
			s.opts.Events.TermStart(false, 0)
		}
		return false, nil
	}
	paused, err := storecall.Do(ctx, s.opts.StoreTimeout, s.opts.Store.PausedJobs)
	if err != nil {
		return false, fmt.Errorf("reading paused jobs: %w", err)
	}
	t.storePaused = paused
	t.cfg, t.digest, t.sched, t.whole = st.cfg, st.digest, st.sched, true
	// The ticks let pass after the watermark, per job in order: the last
	// leader may or may not have written them; the store keeps the first
	// row of a tick (I1).
	var order []*jobs.Job
	byJob := map[*jobs.Job][]time.Time{}
	for _, p := range st.passed {
		if !p.at.After(wm.At) {
			continue
		}
		if _, ok := byJob[p.job]; !ok {
			order = append(order, p.job)
		}
		byJob[p.job] = append(byJob[p.job], p.at)
	}
	now := s.opts.Clock.Now()
	ticks := 0
	for _, j := range order {
		ts := byJob[j]
		slices.SortFunc(ts, time.Time.Compare)
		t.plan(j, ts, now)
		ticks += len(ts)
		if err := t.flushFull(ctx); err != nil {
			return true, err
		}
	}
	if err := t.flush(ctx, t.mark(now)); err != nil {
		return true, err
	}
	t.log.Info("schedule loaded", slog.Int("jobs", t.sched.len()), slog.Bool("term_start", true), slog.Bool("warm", true),
		slog.Int("ticks_replanned", ticks), slog.Time("watermark", wm.At), slog.Duration("took", s.opts.Clock.Now().Sub(begin)))
	if s.opts.Events.TermStart != nil {
		s.opts.Events.TermStart(true, ticks)
	}
	if s.opts.Events.Loaded != nil {
		s.opts.Events.Loaded(t.sched.len())
	}
	return true, nil
}

// handBack is the term's schedule for the warm state at its end; nil if
// the term never had a whole one (a load failed midway). The term may have
// planned ticks up to a lookahead ahead whose rows it did not write, so
// the schedule is known only from then on.
func (t *term) handBack() *warmState {
	if !t.whole {
		return nil
	}
	return &warmState{cfg: t.cfg, digest: t.digest, sched: t.sched,
		knownFrom: t.s.opts.Clock.Now().Add(t.s.opts.Lookahead)}
}
