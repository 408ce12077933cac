package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/storage"
)

// Causes of an attempt's cancellation, as they appear in its error.
var (
	// ErrCanceledByRequest: a user, the API or the replace policy canceled the run.
	ErrCanceledByRequest = errors.New("canceled by request")
	// ErrShutdown: this replica is shutting down and the grace period ended.
	ErrShutdown = errors.New("tock is shutting down")
	// ErrAttemptLost: the reaper took the attempt away (its lease expired).
	ErrAttemptLost = errors.New("attempt lease lost: the run was handed to another worker")
	// ErrLeaseExpired: heartbeats could not reach the store before the lease ended.
	ErrLeaseExpired = errors.New("attempt lease expired: store unreachable for heartbeats")
)

// claimErrorPause is how long the pool waits after a claim failed for a
// reason other than someone else having the run.
const claimErrorPause = 500 * time.Millisecond

// Pool runs queued runs on at most Workers slots.
type Pool struct {
	opts Options
	log  *slog.Logger
	cfg  atomic.Pointer[jobs.Config]

	// exec is Options.Exec behind the http circuit breakers.
	exec ExecFunc
	// httpClient sends http jobs' requests.
	httpClient *http.Client
	breakers   *Breakers

	slots   chan struct{}
	jobMu   sync.Mutex
	jobSems map[string]chan struct{}

	busy atomic.Int64
	// storeDown is set by a failed claim and cleared when the store
	// answers again; refusing is set while mayClaim says no (for logs).
	storeDown atomic.Bool
	refusing  atomic.Bool

	// routes are the doorbell routes of the config in cfg (Routes);
	// popCancel ends the pop in progress when they change (routes.go).
	routes    atomic.Pointer[[]string]
	popMu     sync.Mutex
	popCancel context.CancelFunc

	// poll is the state of claiming without doorbells while the queue
	// does not answer (poll.go); only the pop loop touches it.
	poll pollState

	mu       sync.Mutex
	started  bool
	stopped  bool
	stopPop  context.CancelFunc
	popDone  chan struct{}
	runCtx   context.Context
	killAll  context.CancelCauseFunc
	attempts sync.WaitGroup

	// finishReqs carries results from attempts to the finisher
	// (finisher.go); closed once every attempt ended.
	finishReqs   chan finishReq
	closeFinish  sync.Once
	finisherDone chan struct{}
	// fallbacks counts the finisher's one-by-one retries.
	fallbacks sync.WaitGroup

	// outputs holds the live output of each attempt running here, by run
	// ID (output.go).
	outputs sync.Map
}

// New returns a Pool running jobs of cfg; Start runs it.
func New(cfg *jobs.Config, opts Options) *Pool {
	opts.setDefaults()
	p := &Pool{
		opts:    opts,
		log:     opts.Logger.With(slog.String("component", "worker"), slog.String("node", opts.Node)),
		slots:   make(chan struct{}, opts.Workers),
		jobSems: map[string]chan struct{}{},

		finishReqs:   make(chan finishReq),
		finisherDone: make(chan struct{}),
	}
	p.cfg.Store(cfg)
	p.setRoutes(cfg)
	bo := opts.Breaker
	var known sync.Map // targets whose breaker exists: their first call is the creation
	bo.Changed = func(target string, state BreakerState) {
		if _, seen := known.LoadOrStore(target, true); seen {
			lvl := slog.LevelInfo
			if state == BreakerOpen {
				lvl = slog.LevelWarn
			}
			p.log.Log(context.Background(), lvl, "http circuit breaker "+state.String(), slog.String("target", target))
		}
		if opts.Breaker.Changed != nil {
			opts.Breaker.Changed(target, state)
		}
	}
	p.breakers = NewBreakers(bo)
	p.exec = p.breakers.Wrap(opts.Exec)
	// As many idle connections per target as slots: a burst of http jobs
	// against one service reuses its connections the next time.
	p.httpClient = executor.NewHTTPClient(max(opts.Workers, executor.DefaultHTTPIdlePerHost))
	return p
}

// Breakers returns the state of the circuit breaker of every http target
// this pool has run attempts against ("closed", "half-open" or "open").
func (p *Pool) Breakers() map[string]string { return p.breakers.States() }

// SetConfig swaps in a new config: later claims use it; running attempts
// finish with the definition they started with.
func (p *Pool) SetConfig(cfg *jobs.Config) {
	p.cfg.Store(cfg)
	p.setRoutes(cfg)
}

// Capacity is the number of slots.
func (p *Pool) Capacity() int { return p.opts.Workers }

// Busy is the number of attempts running now.
func (p *Pool) Busy() int { return int(p.busy.Load()) }

// Start begins taking runs from the queue; it returns at once.
func (p *Pool) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.stopped {
		return errors.New("worker: pool already started")
	}
	p.started = true
	popCtx, stopPop := context.WithCancel(ctx)
	runCtx, killAll := context.WithCancelCause(context.WithoutCancel(ctx))
	p.stopPop, p.runCtx, p.killAll = stopPop, runCtx, killAll
	p.popDone = make(chan struct{})
	go func() {
		defer close(p.finisherDone)
		p.runFinisher()
	}()
	go func() {
		defer close(p.popDone)
		p.loop(popCtx)
	}()
	return nil
}

// Stop shuts down with no grace: running attempts are canceled at once.
func (p *Pool) Stop() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Shutdown(ctx)
}

// Shutdown stops taking runs, waits for running attempts until ctx ends, then
// cancels the rest (SIGTERM to their process groups, SIGKILL after the kill
// grace) and waits until every result is recorded. Idempotent.
func (p *Pool) Shutdown(ctx context.Context) {
	p.mu.Lock()
	p.stopped = true
	started := p.started
	p.mu.Unlock()
	if !started {
		return
	}
	p.stopPop()
	<-p.popDone
	done := make(chan struct{})
	go func() {
		p.attempts.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.log.Warn("shutdown grace over; canceling running attempts", slog.Int("running", p.Busy()))
		p.killAll(ErrShutdown)
		<-done
	}
	p.killAll(ErrShutdown)
	// Every attempt has its result recorded: no one sends any more.
	p.closeFinish.Do(func() { close(p.finishReqs) })
	<-p.finisherDone
}

// loop takes doorbells for free slots: it waits for one slot, takes as
// many more as are free without waiting (up to ClaimBatch), and gives back
// those it started no attempt on.
func (p *Pool) loop(ctx context.Context) {
	for {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		held := 1
	more:
		for held < p.opts.ClaimBatch {
			select {
			case p.slots <- struct{}{}:
				held++
			default:
				break more
			}
		}
		started := p.takeMany(ctx, held)
		for range held - started {
			<-p.slots
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// candidate is a popped run this replica may run: its job as this
// replica defines it, and the job semaphore slot it holds (nil when the
// job has no max_concurrency).
type candidate struct {
	job  *jobs.Job
	jsem chan struct{}
}

func (c candidate) release() {
	if c.jsem != nil {
		<-c.jsem
	}
}

// takeMany pops up to n doorbells, claims in one transaction the runs this
// replica may run, and starts an attempt for each claimed run; it returns
// how many it started (each now owns one of the caller's slots).
func (p *Pool) takeMany(ctx context.Context, n int) int {
	if !p.mayClaim(ctx) {
		return 0
	}
	if p.pollFirst(ctx) {
		return p.pollMany(ctx, n)
	}
	pctx, popped := p.popContext(ctx)
	items, err := p.opts.Queue.PopMany(pctx, n, p.Routes()...)
	// Read before popped, which ends pctx.
	rerouted := pctx.Err() != nil
	popped()
	if err != nil {
		// pctx ended: shutdown, or a reload changed the routes; pop again.
		if rerouted || errors.Is(err, storage.ErrClosed) {
			return 0
		}
		// The queue does not answer: claim due runs from the store.
		p.queueDown(err)
		return p.pollMany(ctx, n)
	}
	cfg := p.cfg.Load()
	now := p.opts.Clock.Now()
	lease := now.Add(p.opts.AttemptLease)
	// A leader with a lookahead rings doorbells shortly before runs are
	// due: claim those ahead (up to maxClaimAhead) and start them on time.
	horizon := now
	for _, item := range items {
		if item.NotBefore.After(horizon) {
			horizon = item.NotBefore
		}
	}
	horizon = minTime(horizon, now.Add(maxClaimAhead))
	cands := make(map[int64]candidate, len(items))
	params := make([]storage.ClaimParams, 0, len(items))
	for _, item := range items {
		if _, dup := cands[item.RunID]; dup {
			continue // its doorbell rang twice
		}
		job := cfg.Job(item.Job)
		if job == nil || job.Digest != item.Digest {
			// I7: not ours to run; it stays queued for a replica that has it.
			p.log.Debug("skipping run of a job this replica does not define", slog.Int64("run_id", item.RunID),
				slog.String("job", item.Job), slog.String("digest", item.Digest))
			continue
		}
		if !job.RunsOn(p.opts.Labels) {
			// Its run_on labels are not all ours (a doorbell on the
			// general queue from a leader with another config): the
			// store would refuse it too.
			p.log.Debug("skipping run of a job whose run_on labels this replica does not carry", slog.Int64("run_id", item.RunID),
				slog.String("job", item.Job), slog.String("run_on_labels", job.RequiredLabels()))
			continue
		}
		jsem := p.jobSem(job)
		if jsem != nil {
			select {
			case jsem <- struct{}{}:
			default:
				// At its max_concurrency here: leave it queued, the reaper
				// rings its doorbell again.
				continue
			}
		}
		cands[item.RunID] = candidate{job: job, jsem: jsem}
		// The store checks job and digest against the run's row (I7): the
		// doorbell may be forged.
		params = append(params, storage.ClaimParams{RunID: item.RunID, Job: job.Name, Digest: job.Digest,
			Node: p.opts.Node, Labels: p.opts.Labels, Now: now, Horizon: horizon, LeaseUntil: lease})
	}
	if len(params) == 0 {
		return 0
	}
	// The attempt lease is measured from here, before the request that
	// sets it in the store (I10).
	sent := p.opts.Clock.Now()
	runs, err := p.claim(ctx, items, params)
	if err != nil {
		for _, c := range cands {
			c.release()
		}
		if ctx.Err() == nil {
			p.storeError("claim", err)
			p.log.Warn("claiming runs", slog.Int("runs", len(params)), slog.Any("error", err))
		}
		return 0
	}
	started := 0
	for _, run := range runs {
		c, ok := cands[run.ID]
		if !ok {
			continue // not asked for, or returned twice: a broken store
		}
		delete(cands, run.ID)
		p.start(c, run, newLeaseFence(sent, p.opts.AttemptLease, p.opts.StartMargin))
		started++
	}
	// The rest were not claimed: someone else has them, they are not due,
	// or their row is not what the doorbell said.
	for _, c := range cands {
		c.release()
	}
	return started
}

// start runs the claimed run's attempt in a goroutine that owns one slot
// and the candidate's job semaphore slot.
func (p *Pool) start(c candidate, run jobs.Run, fence *leaseFence) {
	p.busy.Add(1)
	p.attempts.Add(1)
	go func() {
		defer p.attempts.Done()
		defer func() { <-p.slots }()
		defer p.busy.Add(-1)
		defer c.release()
		p.execute(c.job, run, fence)
	}()
}

func (p *Pool) jobSem(j *jobs.Job) chan struct{} {
	if j.MaxConcurrency <= 0 {
		return nil
	}
	p.jobMu.Lock()
	defer p.jobMu.Unlock()
	s := p.jobSems[j.Name]
	if s == nil || cap(s) != j.MaxConcurrency {
		s = make(chan struct{}, j.MaxConcurrency)
		p.jobSems[j.Name] = s
	}
	return s
}

// execute runs one attempt to its recorded end.
func (p *Pool) execute(job *jobs.Job, run jobs.Run, fence *leaseFence) {
	log := p.log.With(slog.String("job", job.Name), slog.Int64("run_id", run.ID), slog.Int("attempt", run.Attempt))
	actx, traceparent := p.attemptContext(run)
	ctx, cancel := context.WithCancelCause(actx)
	defer cancel(nil)
	live := p.newLiveOutput(run)
	defer p.doneLiveOutput(live)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		var flusher sync.WaitGroup
		flusher.Go(func() { p.flushOutput(ctx, live) })
		p.heartbeat(ctx, cancel, run, fence, live)
		flusher.Wait()
	}()
	// gate is the attempt's last word before its job starts: a run claimed
	// ahead waits for its instant (its lease kept by the heartbeat; a
	// cancel or the loss of the lease ends the wait), then the lease fence
	// is checked (I10): a replica frozen past the lease (SIGSTOP, a stalled
	// VM) wakes here with the attempt possibly reaped and run elsewhere,
	// and must not start it. An http job waits first, since its circuit
	// breaker may answer without calling the gate.
	gate := func() error {
		if !p.waitUntil(ctx, run.NotBefore) {
			return errWaitEnded
		}
		if err := fence.check(p.opts.Clock.Now()); err != nil {
			return err
		}
		p.attemptStarted(log, run)
		return nil
	}
	if job.HTTP != nil {
		if err := gate(); err != nil {
			p.refused(ctx, cancel, hbDone, log, job, run, err)
			return
		}
		gate = func() error { return fence.check(p.opts.Clock.Now()) }
	}
	params, err := job.ParamsForRun(run.Params)
	if err != nil {
		// The leader checked them against the same definition (the digest
		// covers the params), so only a hand-edited row gets here.
		p.endAttempt(ctx, cancel, hbDone, log, job, run,
			executor.Result{Status: jobs.StatusFailed, Error: "not started: " + err.Error()})
		return
	}
	res := p.exec(ctx, job, executor.Options{
		Params:      params,
		KillGrace:   p.opts.KillGrace,
		OutputLimit: p.opts.OutputLimit,
		Output:      live.buffer(),
		HTTPClient:  p.httpClient,
		// The job learns its run, attempt and fencing token (I10).
		Fence:       run.Fence(),
		ScheduledAt: run.ScheduledAt,
		// A broadcast shard learns its place (TOCK_SHARD_INDEX/TOTAL).
		Shard:      run.Shard,
		ShardTotal: run.ShardTotal,
		// The job continues the run's trace (TRACEPARENT, traceparent).
		Traceparent: traceparent,
		StartGate:   gate,
	})
	if res.NotStarted {
		p.refused(ctx, cancel, hbDone, log, job, run, ErrStartFenced)
		return
	}
	p.endAttempt(ctx, cancel, hbDone, log, job, run, res)
}

// errWaitEnded: the wait for a claimed-ahead run's instant ended early; the
// attempt's context says why.
var errWaitEnded = errors.New("the wait for the attempt's start ended")

// attemptStarted reports an attempt that passed its gate and is starting now.
func (p *Pool) attemptStarted(log *slog.Logger, run jobs.Run) {
	start := p.opts.Clock.Now()
	delay := start.Sub(run.NotBefore)
	if run.Attempt == 1 && run.Trigger == jobs.TriggerSchedule {
		delay = start.Sub(run.ScheduledAt)
	}
	if p.opts.Events.Started != nil {
		p.opts.Events.Started(run, delay)
	}
	// Debug: a line per start would be a synchronous write on the path to
	// every start; tock_fire_delay_seconds and tock_attempts_total carry
	// the aggregate (Events.Started, Events.Finished).
	log.Debug("attempt started", slog.Duration("fire_delay", delay))
}

// refused ends an attempt whose gate said no: fenced (its lease deadline
// passed, I10) or its wait ended by a cancel, the loss of its lease or a
// shutdown.
func (p *Pool) refused(ctx context.Context, cancel context.CancelCauseFunc, hbDone <-chan struct{},
	log *slog.Logger, job *jobs.Job, run jobs.Run, err error) {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(err, ErrStartFenced) && cause == nil, errors.Is(cause, ErrLeaseExpired):
		p.notStarted(ctx, cancel, hbDone, log, job, run, ErrStartFenced)
	case cause != nil:
		p.endAttempt(ctx, cancel, hbDone, log, job, run,
			executor.Result{Status: jobs.StatusCanceled, Error: "canceled before it started: " + cause.Error()})
	default:
		p.notStarted(ctx, cancel, hbDone, log, job, run, err)
	}
}

// notStarted ends an attempt that was claimed but not started because its
// lease deadline passed: the run is retried at once when attempts remain
// (or was already reaped, and then nothing is written).
func (p *Pool) notStarted(ctx context.Context, cancel context.CancelCauseFunc, hbDone <-chan struct{},
	log *slog.Logger, job *jobs.Job, run jobs.Run, err error) {
	log.Warn("attempt not started: its lease deadline passed", slog.Any("error", err))
	if p.opts.Events.NotStarted != nil {
		p.opts.Events.NotStarted(run)
	}
	cancel(ErrLeaseExpired)
	p.endAttempt(ctx, cancel, hbDone, log, job, run,
		executor.Result{Status: jobs.StatusCanceled, Error: "not started: " + err.Error()})
}

// maxClaimAhead bounds how long before its not_before a run is claimed
// (and holds a worker slot): the leader's --lookahead is at most a minute.
const maxClaimAhead = time.Minute

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// waitUntil waits until t on the pool's clock; false if ctx ended first.
func (p *Pool) waitUntil(ctx context.Context, t time.Time) bool {
	d := t.Sub(p.opts.Clock.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	return clock.Sleep(ctx, p.opts.Clock, d)
}

// endAttempt stops the heartbeat and records res (see execute).
func (p *Pool) endAttempt(ctx context.Context, cancel context.CancelCauseFunc, hbDone <-chan struct{},
	log *slog.Logger, job *jobs.Job, run jobs.Run, res executor.Result) {
	cause := context.Cause(ctx)
	cancel(nil)
	<-hbDone

	if errors.Is(cause, ErrAttemptLost) {
		log.Warn("attempt stopped: its lease was taken away", slog.String("status", string(res.Status)))
		attemptLost(ctx, res)
		return
	}
	now := p.opts.Clock.Now()
	var retryAt *time.Time
	retryable := res.Status == jobs.StatusFailed || res.Status == jobs.StatusTimedOut ||
		res.Status == jobs.StatusCanceled && (errors.Is(cause, ErrShutdown) || errors.Is(cause, ErrLeaseExpired))
	if retryable && run.Attempt < run.MaxAttempts {
		t := now.Add(jobs.Backoff(job.RetryBackoff, job.RetryBackoffMax, run.Attempt+1))
		retryAt = &t
	}
	spans := p.traceFinish(ctx, run)
	final, err := p.record(storage.FinishParams{
		RunID: run.ID, Attempt: run.Attempt, Node: p.opts.Node, Status: res.Status, FinishedAt: now,
		ExitCode: res.ExitCode, Error: res.Error, Output: res.Output, OutputDropped: res.OutputDropped, RetryAt: retryAt,
		Flushed: p.flushedOutput(run),
	})
	spans.end(res, final, err)
	switch {
	case errors.Is(err, storage.ErrLeaseLost):
		log.Warn("attempt result not recorded: the attempt was reaped meanwhile", slog.String("status", string(res.Status)))
	case err != nil:
		log.Error("recording attempt result", slog.String("status", string(res.Status)), slog.Any("error", err))
	default:
		// A succeeded attempt is the ordinary run: debug, like its start
		// (the metrics count it); any other result is worth a line.
		lvl := slog.LevelDebug
		if res.Status != jobs.StatusSucceeded {
			lvl = slog.LevelWarn
		}
		log.Log(context.Background(), lvl, "attempt finished", slog.String("status", string(res.Status)),
			slog.String("run_status", string(final.Status)), slog.Duration("duration", res.Duration),
			slog.String("error", res.Error))
	}
	if p.opts.Events.Finished != nil {
		p.opts.Events.Finished(final, res)
	}
}

// heartbeat renews the attempt lease until ctx ends, and cancels the attempt
// on a cancel request, a lost lease, or at its local lease deadline when it
// could not renew in time (I10). The deadline is checked first whenever the
// goroutine wakes, so a replica thawed after a freeze stops the attempt
// before it sends anything. A beat carries the live output when new bytes
// arrived and no flush is in flight (one statement less).
func (p *Pool) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, run jobs.Run, fence *leaseFence, live *liveOutput) {
	next := p.opts.Clock.Now().Add(p.opts.HeartbeatInterval)
	t := p.opts.Clock.NewTimer(p.untilNext(next, fence))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		now := p.opts.Clock.Now()
		if fence.check(now) != nil {
			cancel(ErrLeaseExpired)
			return
		}
		if now.Before(next) {
			t.Reset(p.untilNext(next, fence))
			continue
		}
		hb := storage.HeartbeatParams{RunID: run.ID, Attempt: run.Attempt, Node: p.opts.Node, LeaseUntil: now.Add(p.opts.AttemptLease)}
		out, total, withOutput := live.take(now, false)
		if withOutput {
			hb.Output = &out
		}
		// Bounded by the deadline: past it the attempt stops anyway.
		cancelReq, err := storecall.Do(ctx, min(p.opts.StoreTimeout, fence.until().Sub(now)), func(ctx context.Context) (bool, error) {
			return p.opts.Store.Heartbeat(ctx, hb)
		})
		if withOutput {
			p.putOutput(live, out, total, err == nil, true)
		}
		switch {
		case errors.Is(err, storage.ErrLeaseLost):
			cancel(ErrAttemptLost)
			return
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			p.storeError("heartbeat", err)
			p.log.Warn("heartbeat", slog.Int64("run_id", run.ID), slog.Any("error", err))
		default:
			fence.renewed(now)
			if cancelReq {
				cancel(ErrCanceledByRequest)
				return
			}
		}
		next = p.opts.Clock.Now().Add(p.opts.HeartbeatInterval)
		t.Reset(p.untilNext(next, fence))
	}
}

// untilNext is how long the heartbeat sleeps: until its next beat or the
// lease deadline, whichever comes first.
func (p *Pool) untilNext(next time.Time, fence *leaseFence) time.Duration {
	now := p.opts.Clock.Now()
	return max(0, min(next.Sub(now), fence.until().Sub(now)))
}

// finish records the result, retrying with backoff while the store is
// unreachable so no finished result is lost.
func (p *Pool) finish(fp storage.FinishParams) (jobs.Run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.FinishRetryFor)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		run, err := storecall.Do(ctx, p.opts.StoreTimeout, func(ctx context.Context) (jobs.Run, error) {
			return p.opts.Store.Finish(ctx, fp)
		})
		if err == nil {
			return run, nil
		}
		if errors.Is(err, storage.ErrLeaseLost) || ctx.Err() != nil {
			return run, fmt.Errorf("finishing run %d attempt %d: %w", fp.RunID, fp.Attempt, err)
		}
		p.storeError("finish", err)
		p.log.Warn("recording result; retrying", slog.Int64("run_id", fp.RunID), slog.Duration("in", wait), slog.Any("error", err))
		clock.Sleep(ctx, p.opts.Clock, wait)
		wait = min(wait*2, 5*time.Second)
	}
}

// mayClaim tells whether the pool may take doorbells now: the replica is
// healthy (I9) and, after a failed claim, the store answers again. When it
// may not, it waits claimErrorPause first, so the pop loop does not spin.
func (p *Pool) mayClaim(ctx context.Context) bool {
	err := p.opts.Healthy()
	if err == nil && p.storeDown.Load() {
		_, err = storecall.Do(ctx, p.opts.ClaimTimeout, p.opts.Store.Now)
		if err == nil {
			p.storeDown.Store(false)
			p.log.Info("store answers again; taking runs")
		}
	}
	if err == nil {
		if p.refusing.Swap(false) {
			p.log.Info("claiming runs again")
		}
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	if !p.refusing.Swap(true) {
		p.log.Warn("not claiming runs", slog.Any("error", err))
	}
	clock.Sleep(ctx, p.opts.Clock, claimErrorPause)
	return false
}

// claim claims params in one transaction. A claim that has not answered
// within ClaimTimeout gives its doorbells back at once, so that a replica
// that reaches the store runs the runs, and stops the pop loop until the
// store answers (mayClaim); the claim itself goes on — the store's
// compare-and-set (I4) lets only one of the two win each run — so that a
// claim that commits late is not lost: what it claimed is still run, or
// refused its start by the lease fence (I10) and retried.
func (p *Pool) claim(ctx context.Context, items []storage.QueueItem, params []storage.ClaimParams) ([]jobs.Run, error) {
	var runs []jobs.Run
	var err error
	began := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runs, err = storecall.Do(ctx, p.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
			return p.opts.Store.ClaimMany(ctx, params)
		})
	}()
	slow := p.opts.Clock.NewTimer(p.opts.ClaimTimeout)
	defer slow.Stop()
	handed := false
	select {
	case <-done:
	case <-slow.C():
		p.log.Warn("claim slower than the claim timeout; handing its doorbells back", slog.Int("runs", len(params)),
			slog.Duration("claim_timeout", p.opts.ClaimTimeout))
		p.handBack(items)
		p.storeDown.Store(true)
		handed = true
		<-done
	}
	if err != nil && ctx.Err() == nil {
		// Failed outright (refused, reset): give the doorbells back now
		// rather than leave the runs to the leader's RequeueAfter.
		if !handed {
			p.handBack(items)
		}
		p.storeDown.Store(true)
	}
	p.claimed(runs, began, claimViaQueue)
	return runs, err
}

// handBack rings the doorbells of items again, so that a replica that can
// claim them does; on failure the leader's requeue rings them later.
func (p *Pool) handBack(items []storage.QueueItem) {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.ClaimTimeout)
	defer cancel()
	if err := p.opts.Queue.Push(ctx, items...); err != nil {
		p.log.Warn("handing doorbells back; the leader rings them again later", slog.Int("runs", len(items)), slog.Any("error", err))
	}
}

func (p *Pool) storeError(op string, err error) {
	if p.opts.Events.StoreError != nil {
		p.opts.Events.StoreError(op, err)
	}
}
