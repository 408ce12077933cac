package peers

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tock-sched/tock/bench/stats"
)

// asynqTaskType is the type of the benchmark's periodic tasks.
const asynqTaskType = "bench:tick"

// asynqMinConcurrency is the least worker concurrency of the asynq server,
// so that a whole tick's tasks can run at once.
const asynqMinConcurrency = 2000

// asynqAlign is how long after a grid instant the schedulers are started.
// asynq's Scheduler parses only 5-field specs, so firing every few seconds
// takes "@every Ns", which robfig/cron (inside asynq) counts from the whole
// second the scheduler starts in: starting in the second after a grid
// instant puts every firing on the grid.
const asynqAlign = 20 * time.Millisecond

// Asynq measures asynq v0.26: schedulers Scheduler instances each
// registering the same n periodic tasks every period (on the period grid),
// and one Server with the default 1 s poll whose handler records when it
// starts. Redis database redisDB at redisAddr is flushed before and after, so
// it must be dedicated to the benchmark; database 0 is refused. Every
// scheduler enqueues every tick, so schedulers > 1 gives duplicates. Each run
// is attributed to the tick its task was enqueued for, so a run later than
// one period still counts against its own tick.
func Asynq(ctx context.Context, n, schedulers int, period time.Duration, ticks int, redisAddr string, redisDB int, body Body) (stats.Fire, error) {
	if err := checkFireArgs(n, period, ticks); err != nil {
		return stats.Fire{}, err
	}
	if schedulers <= 0 {
		return stats.Fire{}, fmt.Errorf("peers: schedulers must be positive, got %d", schedulers)
	}
	if redisDB <= 0 {
		return stats.Fire{}, fmt.Errorf("peers: asynq flushes its Redis database; give a dedicated one other than 0, got %d", redisDB)
	}
	if period < 2*time.Second {
		// The server polls every 0.5-1.5 s; a shorter period would blur ticks.
		return stats.Fire{}, fmt.Errorf("peers: asynq needs a period of at least 2 s, got %v", period)
	}
	if _, err := redisDo(ctx, redisAddr, redisDB, "FLUSHDB"); err != nil {
		return stats.Fire{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = redisDo(cctx, redisAddr, redisDB, "FLUSHDB")
	}()

	conn := asynq.RedisClientOpt{Addr: redisAddr, DB: redisDB}
	seen := stats.NewTicks(period)
	var (
		mu       sync.Mutex
		tickOf   = map[string]time.Time{} // task ID → the tick it was enqueued for
		maxLag   time.Duration            // latest enqueue after its tick
		enqErrs  int
		enqueued atomic.Int64
		handled  atomic.Int64
	)
	postEnqueue := func(info *asynq.TaskInfo, err error) {
		now := time.Now()
		tick := now.Truncate(period)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			enqErrs++
			return
		}
		tickOf[info.ID] = tick
		maxLag = max(maxLag, now.Sub(tick))
		enqueued.Add(1)
	}
	handler := asynq.HandlerFunc(func(hctx context.Context, t *asynq.Task) error {
		start := time.Now()
		defer handled.Add(1)
		job, err := strconv.Atoi(string(t.Payload()))
		if err != nil {
			return fmt.Errorf("bad payload %q: %w: %w", t.Payload(), err, asynq.SkipRetry)
		}
		id, _ := asynq.GetTaskID(hctx)
		mu.Lock()
		tick, ok := tickOf[id]
		mu.Unlock()
		if !ok {
			// Run before PostEnqueueFunc saw it: enqueued moments ago,
			// within its tick's first second.
			tick = start.Truncate(period)
		}
		body.run(job, tick, start, seen)
		return nil
	})

	srv := asynq.NewServer(conn, asynq.Config{
		Concurrency: max(asynqMinConcurrency, n*schedulers),
		LogLevel:    asynq.ErrorLevel,
	})
	if err := srv.Start(handler); err != nil {
		return stats.Fire{}, fmt.Errorf("starting asynq server: %w", err)
	}
	defer srv.Shutdown() // no-op once shut down below

	every := fmt.Sprintf("@every %ds", period/time.Second)
	scheds := make([]*asynq.Scheduler, 0, schedulers)
	defer func() {
		for _, s := range scheds {
			s.Shutdown()
		}
	}()
	for k := range schedulers {
		s := asynq.NewScheduler(conn, &asynq.SchedulerOpts{
			LogLevel:        asynq.ErrorLevel,
			Location:        time.UTC,
			PostEnqueueFunc: postEnqueue,
		})
		for i := range n {
			if _, err := s.Register(every, asynq.NewTask(asynqTaskType, []byte(strconv.Itoa(i)))); err != nil {
				// Shutdown releases the scheduler's Redis client only
				// once started.
				if serr := s.Start(); serr == nil {
					s.Shutdown()
				}
				return stats.Fire{}, fmt.Errorf("registering asynq task %d on scheduler %d: %w", i, k, err)
			}
		}
		scheds = append(scheds, s)
	}

	now := time.Now()
	grid := now.Truncate(period).Add(period)
	if err := sleepUntil(ctx, grid.Add(asynqAlign)); err != nil {
		return stats.Fire{}, err
	}
	started := make([]*asynq.Scheduler, 0, len(scheds))
	for k, s := range scheds {
		if err := s.Start(); err != nil {
			scheds = started
			return stats.Fire{}, fmt.Errorf("starting asynq scheduler %d: %w", k, err)
		}
		started = append(started, s)
	}
	if late := time.Since(grid); late >= time.Second-asynqAlign {
		return stats.Fire{}, fmt.Errorf("asynq schedulers started %v after the grid instant, off the grid", late)
	}
	from := grid.Add(period)
	to := from.Add(time.Duration(ticks) * period)

	err := sleepUntil(ctx, stopAt(to, period))
	// Producers first: after Shutdown no scheduler enqueues any more.
	for _, s := range scheds {
		s.Shutdown()
	}
	scheds = nil
	if err != nil {
		return stats.Fire{}, err
	}
	// Let the server run what was enqueued, late runs included, for up to
	// one more period.
	drained := true
	for deadline := to.Add(period); handled.Load() < enqueued.Load(); {
		if !time.Now().Before(deadline) {
			drained = false
			break
		}
		if err := sleepUntil(ctx, time.Now().Add(10*time.Millisecond)); err != nil {
			return stats.Fire{}, err
		}
	}
	srv.Shutdown()

	noun := "scheduler"
	if schedulers > 1 {
		noun += "s"
	}
	f := body.ticks(seen).Result(fmt.Sprintf("asynq v0.26 (%d %s)", schedulers, noun), n, from, to)
	mu.Lock()
	f.Note = fmt.Sprintf("default 1 s poll; enqueue lag max %s ms, enqueue errors %d; %s", stats.Ms(maxLag), enqErrs, body.label())
	if maxLag >= period {
		f.Note += "; an enqueue lagged a whole period, so some runs may count against the next tick"
	}
	mu.Unlock()
	if !drained {
		f.Note += fmt.Sprintf("; %d enqueued tasks not run within a period", enqueued.Load()-handled.Load())
	}
	return f, nil
}
