package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// maxFarWait is how long the loop sleeps when no job is scheduled.
const maxFarWait = time.Hour

// term is the state of one leadership term's dispatch loop.
type term struct {
	s     *Scheduler
	epoch int64
	log   *slog.Logger
	sched *schedule
	cfg   *jobs.Config
	// digest is scheduleDigest(cfg), recorded with the watermark.
	digest string
	// whole says sched holds every job of cfg: set when a load or a warm
	// start completed, cleared while one runs (an error midway leaves a
	// schedule that must not be handed back, warm.go).
	whole bool
	// storePaused holds the jobs paused in the store (tock pause, the API);
	// a job is paused if its config or the store says so.
	storePaused map[string]bool
	// delayed holds queued runs whose not_before (jitter) is further ahead
	// than the lookahead; their doorbell rings a lookahead before it.
	delayed []jobs.Run

	batch   []storage.NewRun
	cursors map[string]time.Time
	// marked is when the term last recorded its watermark.
	marked time.Time
	// depsDrained is the config without dependencies under which the
	// term last resolved pending runs (deps.go).
	depsDrained *jobs.Config
}

// dispatchLoop runs the tick loop for one term; any error ends the term (the
// next term catches up from the store's cursors).
func (s *Scheduler) dispatchLoop(ctx context.Context, endTerm context.CancelCauseFunc, epoch int64) {
	t := &term{s: s, epoch: epoch, log: s.log.With(slog.Int64("epoch", epoch)), sched: newSchedule(s.dispatchLead), storePaused: map[string]bool{}, cursors: map[string]time.Time{}}
	err := t.run(ctx)
	s.warm.give(t.handBack())
	if err != nil && ctx.Err() == nil {
		if !errors.Is(err, storage.ErrFenced) {
			s.storeError("dispatch", err)
		}
		t.log.Error("leadership term ended", slog.Any("error", err))
		endTerm(err)
	}
}

func (t *term) run(ctx context.Context) error {
	s := t.s
	warm, err := t.startWarm(ctx)
	if err != nil {
		return err
	}
	if !warm {
		states, err := t.states(ctx)
		if err != nil {
			return err
		}
		if err := t.load(ctx, s.cfg.Load(), states, true, s.opts.Clock.Now()); err != nil {
			return err
		}
	}
	if err := t.poll(ctx); err != nil {
		return err
	}
	if err := t.ringQueued(ctx); err != nil {
		return err
	}
	wait := s.opts.Clock.NewTimer(maxFarWait)
	defer wait.Stop()
	poll := s.opts.Clock.NewTimer(s.opts.PollInterval)
	defer poll.Stop()
	for {
		now := s.opts.Clock.Now()
		d := maxFarWait
		if e := t.sched.peek(); e != nil {
			d = e.dispatchAt().Sub(now)
		}
		if len(t.delayed) > 0 {
			if dd := t.delayed[0].NotBefore.Sub(now) - s.opts.Lookahead; dd < d {
				d = dd
			}
		}
		wait.Reset(d)
		select {
		case <-ctx.Done():
			return nil
		case <-wait.C():
			if err := t.fire(ctx, s.opts.Clock.Now()); err != nil {
				return err
			}
		case <-s.reload:
			// What is due was due under the config it was due in: a
			// changed job's next tick is taken after now, so every tick up
			// to the same now is dispatched first, or it would go
			// unrecorded (I1).
			now := s.opts.Clock.Now()
			if err := t.fire(ctx, now); err != nil {
				return err
			}
			states, err := t.states(ctx)
			if err != nil {
				return err
			}
			if err := t.load(ctx, s.cfg.Load(), states, false, now); err != nil {
				return err
			}
		case <-s.wake:
			if err := t.poll(ctx); err != nil {
				return err
			}
		case <-poll.C():
			if err := t.poll(ctx); err != nil {
				return err
			}
			poll.Reset(s.opts.PollInterval)
		}
	}
}

// statesPerJob is the time the job-state read may take per job of the
// config beyond StoreTimeout: a million jobs' cursors are a read of a
// million rows, which on a busy machine outlasts a fixed timeout, and a
// term that gives up on it steps down and starts over cold.
const statesPerJob = 20 * time.Microsecond

func (t *term) states(ctx context.Context) (map[string]storage.JobState, error) {
	n := len(t.s.cfg.Load().Jobs)
	st, err := storecall.Do(ctx, t.s.opts.StoreTimeout+time.Duration(n)*statesPerJob, t.s.opts.Store.JobStates)
	if err != nil {
		return nil, fmt.Errorf("reading job states: %w", err)
	}
	return st, nil
}

// load (re)builds the heap from cfg. At the start of a term (catchUp) every
// job's ticks since its stored cursor are planned by its misfire policy; on a
// reload, jobs new to the heap start from now.
func (t *term) load(ctx context.Context, cfg *jobs.Config, states map[string]storage.JobState, catchUp bool, now time.Time) error {
	begin := t.s.opts.Clock.Now()
	t.whole = false
	t.cfg, t.digest = cfg, scheduleDigest(cfg)
	t.storePaused = map[string]bool{}
	for name, st := range states {
		if st.Paused {
			t.storePaused[name] = true
		}
	}
	t.sched.rekey(cfg)
	nexts := t.nextsFromNow(cfg, states, catchUp, now)
	for i, j := range cfg.Jobs {
		st := states[j.Name]
		old := t.sched.entryOf(i)
		inHeap := old != nil
		switch {
		case inHeap && old.job.Digest == j.Digest:
			old.job = j
			continue
		case inHeap || !catchUp || st.Cursor.IsZero():
			// A changed job keeps its cursor and gets its next tick from
			// now; a job new to tock starts now, with nothing to catch up.
			if st.Cursor.IsZero() || !inHeap && !catchUp {
				t.cursors[j.Name] = now
			}
			var next time.Time
			if nexts != nil {
				next = nexts[i]
			} else {
				next = j.Next(later(now, st.Cursor))
			}
			t.sched.setAt(i, j, next)
			if err := t.flushFull(ctx); err != nil {
				return err
			}
		default:
			if err := t.catchUp(ctx, j, st.Cursor, now); err != nil {
				return err
			}
		}
	}
	t.whole = true
	if err := t.flush(ctx, t.mark(now)); err != nil {
		return err
	}
	t.log.Info("schedule loaded", slog.Int("jobs", t.sched.len()), slog.Bool("term_start", catchUp), slog.Bool("warm", false),
		slog.Duration("took", t.s.opts.Clock.Now().Sub(begin)))
	if t.s.opts.Events.Loaded != nil {
		t.s.opts.Events.Loaded(t.sched.len())
	}
	return nil
}

// parallelNextsMin is the config size from which load computes the next
// ticks of the jobs that start from now on all cores before its walk:
// robfig/cron's Next is a quarter of a cold million-job load, and the walk
// itself (cursors, heap, store writes) is serial.
const parallelNextsMin = 20_000

// nextsFromNow returns, for each job of cfg that load will schedule from
// max(now, its cursor) — a job new to the heap without catch-up, or one
// changed — its next tick from there, computed on GOMAXPROCS goroutines
// that end before it returns; the other entries stay zero. Nil below
// parallelNextsMin jobs or on one core: load then asks each job itself.
func (t *term) nextsFromNow(cfg *jobs.Config, states map[string]storage.JobState, catchUp bool, now time.Time) []time.Time {
	workers := runtime.GOMAXPROCS(0)
	if len(cfg.Jobs) < parallelNextsMin || workers < 2 {
		return nil
	}
	nexts := make([]time.Time, len(cfg.Jobs))
	per := (len(cfg.Jobs) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < len(cfg.Jobs); lo += per {
		hi := min(lo+per, len(cfg.Jobs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, j := range cfg.Jobs[lo:hi] {
				old := t.sched.entryOf(lo + i)
				cursor := states[j.Name].Cursor
				if old != nil && old.job.Digest == j.Digest || old == nil && catchUp && !cursor.IsZero() {
					continue
				}
				nexts[lo+i] = j.Next(later(now, cursor))
			}
		}()
	}
	wg.Wait()
	return nexts
}

// catchUp plans every tick of j in (cursor, now] and schedules the next.
func (t *term) catchUp(ctx context.Context, j *jobs.Job, cursor, now time.Time) error {
	after := cursor
	for {
		ticks := dueTicks(j, after, now, t.s.opts.MaxBatch)
		if len(ticks) == 0 {
			break
		}
		t.plan(j, ticks, now)
		after = ticks[len(ticks)-1]
		if err := t.flushFull(ctx); err != nil {
			return err
		}
	}
	// Next after the last tick planned (not after now), so that @every
	// schedules keep their grid across a catch-up.
	t.sched.set(j, j.Next(after))
	return nil
}

// dispatchLead is how long before its tick a run of j is dispatched: the
// lookahead for jobs that may overlap; jobs with concurrency forbid or
// replace are dispatched at their tick, when the overlap check means what
// it says.
func (s *Scheduler) dispatchLead(j *jobs.Job) time.Duration {
	if j.Concurrency != jobs.ConcurrencyAllow {
		return 0
	}
	return s.opts.Lookahead
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// plan adds rows for ticks of j to the batch; a paused job's ticks only move
// its cursor.
func (t *term) plan(j *jobs.Job, ticks []time.Time, now time.Time) {
	if j.Paused || t.storePaused[j.Name] {
		t.cursors[j.Name] = ticks[len(ticks)-1]
		return
	}
	p := planTicks(j, ticks, now, t.s.opts.OnTime, t.s.opts.Jitter)
	if len(t.cfg.Dependents(j.Name)) > 0 {
		// Once these rows end, ResolveDeps decides their dependents
		// (missed and skipped rows included: theirs are skipped).
		for i := range p.runs {
			p.runs[i].DepsPending = true
		}
	}
	t.batch = append(t.batch, p.runs...)
	t.cursors[j.Name] = p.cursor
}

// fire dispatches every tick whose dispatch time has come (a lookahead
// before the tick for jobs that may overlap, see dispatchLead) and rings the
// doorbells of delayed (jittered) runs due within the lookahead.
func (t *term) fire(ctx context.Context, now time.Time) error {
	for {
		e := t.sched.peek()
		if e == nil || e.dispatchAt().After(now) {
			break
		}
		j := e.job
		horizon := now.Add(t.s.dispatchLead(j))
		ticks := []time.Time{e.tick()}
		for n := j.Next(e.tick()); !n.IsZero() && !n.After(horizon) && len(ticks) < t.s.opts.MaxBatch; n = j.Next(n) {
			ticks = append(ticks, n)
		}
		t.plan(j, ticks, now)
		t.sched.set(j, j.Next(ticks[len(ticks)-1]))
		if err := t.flushFull(ctx); err != nil {
			return err
		}
	}
	if err := t.flush(ctx, t.mark(now)); err != nil {
		return err
	}
	n := 0
	ring := now.Add(t.s.opts.Lookahead)
	for n < len(t.delayed) && !t.delayed[n].NotBefore.After(ring) {
		n++
	}
	if n > 0 {
		t.s.push(ctx, t.delayed[:n])
		t.delayed = append(t.delayed[:0], t.delayed[n:]...)
	}
	return nil
}

// mark is the watermark the term may record once its batch is written:
// every tick up to now, except those of entries still due in the heap.
func (t *term) mark(now time.Time) *storage.Watermark {
	w := now
	if e := t.sched.peek(); e != nil && e.at <= now.UnixNano() {
		w = e.dispatchAt().Add(-time.Microsecond)
	}
	return &storage.Watermark{At: w, Schedule: t.digest}
}

// flushFull flushes once the batch or the cursors reach MaxBatch: a
// million new jobs' cursors in one transaction would outlast the store
// timeout.
func (t *term) flushFull(ctx context.Context) error {
	if len(t.batch) < t.s.opts.MaxBatch && len(t.cursors) < t.s.opts.MaxBatch {
		return nil
	}
	return t.flush(ctx, nil)
}

// flush writes the batch in one fenced transaction, with the watermark
// mark when set, then rings the doorbell for the runs that are due (I1:
// insert before enqueue).
func (t *term) flush(ctx context.Context, mark *storage.Watermark) error {
	if len(t.batch) == 0 && len(t.cursors) == 0 && mark == nil {
		return nil
	}
	s := t.s
	now := s.opts.Clock.Now()
	spans := t.traceDispatch(ctx)
	defer spans.end()
	queued, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
		return s.opts.Store.Dispatch(ctx, storage.DispatchParams{Epoch: t.epoch, Now: now, Runs: t.batch, Cursors: t.cursors, Watermark: mark,
			LiveSince: now.Add(-s.opts.NodeAlive)})
	})
	spans.dispatched(queued, err)
	if err != nil {
		return fmt.Errorf("dispatching %d runs: %w", len(t.batch), err)
	}
	if mark != nil {
		t.marked = now
	}
	if s.opts.Events.Dispatched != nil && (len(t.batch) > 0 || len(t.cursors) > 0) {
		// Ticks, not rows: a broadcast tick queued as N shards is one.
		ticks, shards := 0, 0
		for _, r := range queued {
			if r.ShardTotal > 0 {
				shards++
			}
			if r.Shard == 0 {
				ticks++
			}
		}
		s.opts.Events.Dispatched(t.batch, ticks)
		if shards > 0 && s.opts.Events.Shards != nil {
			s.opts.Events.Shards(shards)
		}
	}
	t.batch = t.batch[:0]
	t.cursors = map[string]time.Time{}
	// Doorbells ring up to the lookahead before the run is due: workers
	// claim such a run ahead and start it at its not_before.
	due := queued[:0:0]
	horizon := now.Add(s.opts.Lookahead)
	for _, r := range queued {
		if r.NotBefore.After(horizon) {
			t.delayed = append(t.delayed, r)
			continue
		}
		due = append(due, r)
	}
	sort.Slice(t.delayed, func(a, b int) bool { return t.delayed[a].NotBefore.Before(t.delayed[b].NotBefore) })
	s.push(ctx, due)
	return nil
}

// ringQueued rings, at the start of a term, the doorbell of every queued
// run due within the lookahead, however recently it was rung: the last
// leader may have written runs and lost Redis before ringing them (or the
// queue lost its keys), and waiting for RequeueAfter would start them late.
func (t *term) ringQueued(ctx context.Context) error {
	s := t.s
	horizon := s.opts.Clock.Now().Add(s.opts.Lookahead)
	for {
		due, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
			return s.opts.Store.DueQueued(ctx, horizon, horizon, requeueLimit)
		})
		if err != nil {
			return fmt.Errorf("listing queued runs to ring at term start: %w", err)
		}
		if len(due) == 0 {
			return nil
		}
		// Each call stamps the runs it returns, so the next one goes on
		// with the rest.
		s.push(ctx, due)
		t.log.Info("rang queued runs at term start", slog.Int("runs", len(due)))
	}
}

// poll reads pause state and promotes manual triggers; it runs after the
// term's first load. It reads only the paused jobs, so its cost does not
// grow with the number of jobs.
func (t *term) poll(ctx context.Context) error {
	s := t.s
	stored, err := storecall.Do(ctx, s.opts.StoreTimeout, s.opts.Store.PausedJobs)
	if err != nil {
		return fmt.Errorf("reading paused jobs: %w", err)
	}
	t.storePaused = stored
	spans := t.tracePromote(ctx)
	promoted, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
		return s.opts.Store.PromoteScheduled(ctx, storage.PromoteParams{Epoch: t.epoch, Now: s.opts.Clock.Now(), Job: t.cfg.Job,
			Dependents: t.cfg.Dependents,
			Paused: func(name string) bool {
				j := t.cfg.Job(name)
				return stored[name] || j != nil && j.Paused
			},
			Traceparent: spans.params()})
	})
	if err != nil {
		spans.end(nil, err)
		return fmt.Errorf("promoting scheduled runs: %w", err)
	}
	if len(promoted) > 0 {
		t.log.Info("scheduled runs queued (manual, backfill)", slog.Int("runs", len(promoted)))
	}
	s.push(ctx, promoted)
	spans.end(promoted, nil)
	if err := t.resolveDeps(ctx); err != nil {
		return err
	}
	// Keep the watermark within a poll interval of the clock when nothing
	// fires, so that a standby can take over warm.
	if now := s.opts.Clock.Now(); now.Sub(t.marked) >= s.opts.PollInterval {
		if err := t.flush(ctx, t.mark(now)); err != nil {
			return err
		}
	}
	return nil
}
