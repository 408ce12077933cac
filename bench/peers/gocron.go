package peers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/gomodule/redigo/redis"

	"github.com/tock-sched/tock/bench/stats"
)

// gocronJobRun is how long each gocron job runs: the "1 ms jobs".
const gocronJobRun = time.Millisecond

// gocronPoolSize bounds each instance's Redis connections, as an operator
// would size a pool for a scheduler process.
const gocronPoolSize = 64

// errLocked is what the locker returns when another instance holds the lock;
// gocron then skips the run.
var errLocked = errors.New("peers: gocron job locked by another instance")

// Gocron measures instances gocron v2 schedulers in this process, each with
// the same n cron jobs firing every period on the period grid and a locker
// on Redis at redisAddr (database 0, keys under keyPrefix): a lock is
// SET NX PX period/2, released after the run. Each job records when it starts
// and then runs for 1 ms. Runs of one job and tick by more than one instance
// are duplicates. The lock keys are deleted at the end.
func Gocron(ctx context.Context, n, instances int, period time.Duration, ticks int, redisAddr, keyPrefix string, body Body) (stats.Fire, error) {
	if err := checkFireArgs(n, period, ticks); err != nil {
		return stats.Fire{}, err
	}
	if instances <= 0 {
		return stats.Fire{}, fmt.Errorf("peers: instances must be positive, got %d", instances)
	}
	if keyPrefix == "" {
		return stats.Fire{}, errors.New("peers: gocron needs a Redis key prefix")
	}
	spec, _ := secondsSpec(period)
	if _, err := redisDo(ctx, redisAddr, 0, "PING"); err != nil {
		return stats.Fire{}, err
	}
	defer func() {
		// The context may be done; cleaning up must still happen.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = deleteKeys(cctx, redisAddr, keyPrefix)
	}()

	seen := stats.NewTicks(period)
	var counts lockCounts
	lockers := make([]*redisLocker, 0, instances)
	scheds := make([]gocron.Scheduler, 0, instances)
	defer func() {
		// Schedulers first: their runs unlock through the pools.
		for _, s := range scheds {
			_ = s.Shutdown()
		}
		for _, l := range lockers {
			_ = l.pool.Close()
		}
	}()
	for k := range instances {
		l := &redisLocker{
			pool:   newRedisPool(redisAddr, 0, gocronPoolSize),
			prefix: keyPrefix,
			ttl:    period / 2,
			counts: &counts,
		}
		lockers = append(lockers, l)
		s, err := gocron.NewScheduler(gocron.WithDistributedLocker(l), gocron.WithLocation(time.UTC))
		if err != nil {
			return stats.Fire{}, fmt.Errorf("creating gocron scheduler %d: %w", k, err)
		}
		scheds = append(scheds, s)
		for i := range n {
			_, err := s.NewJob(
				gocron.CronJob(spec, true),
				gocron.NewTask(func() {
					start := time.Now()
					body.run(i, start.Truncate(period), start, seen)
					if body.Call == nil {
						time.Sleep(gocronJobRun)
					}
				}),
				gocron.WithName(strconv.Itoa(i)),
			)
			if err != nil {
				return stats.Fire{}, fmt.Errorf("adding gocron job %d to scheduler %d: %w", i, k, err)
			}
		}
	}
	for _, s := range scheds {
		s.Start()
	}
	from, to := window(time.Now(), period, ticks)
	err := sleepUntil(ctx, stopAt(to, period))
	var errs []error
	for k, s := range scheds {
		if serr := s.Shutdown(); serr != nil {
			errs = append(errs, fmt.Errorf("shutting down gocron scheduler %d: %w", k, serr))
		}
	}
	scheds = nil
	if err != nil {
		return stats.Fire{}, err
	}
	if err := errors.Join(errs...); err != nil {
		return stats.Fire{}, err
	}
	f := body.ticks(seen).Result(fmt.Sprintf("gocron v2 + Redis lock ×%d", instances), n, from, to)
	f.Note = fmt.Sprintf("lock SET NX PX %v, released after the run; locks won %d, refused %d, errors %d; %s",
		period/2, counts.won.Load(), counts.refused.Load(), counts.failed.Load(), body.label())
	return f, nil
}

// lockCounts counts the outcomes of Lock calls over all instances.
type lockCounts struct {
	won, refused, failed atomic.Int64
}

// redisLocker is a gocron.Locker on one Redis key per job name.
type redisLocker struct {
	pool   *redis.Pool
	prefix string
	ttl    time.Duration
	counts *lockCounts
}

// unlockScript deletes the lock only if it still holds our token.
var unlockScript = redis.NewScript(1, `
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Lock takes the lock of the job named key or returns an error, which makes
// gocron skip the run.
func (l *redisLocker) Lock(ctx context.Context, key string) (gocron.Lock, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	lk := &redisLock{pool: l.pool, key: l.prefix + key, token: hex.EncodeToString(b[:])}
	c, err := l.pool.GetContext(ctx)
	if err != nil {
		l.counts.failed.Add(1)
		return nil, fmt.Errorf("locking %s: %w", lk.key, err)
	}
	defer c.Close()
	_, err = redis.String(redis.DoContext(c, ctx, "SET", lk.key, lk.token, "NX", "PX", l.ttl.Milliseconds()))
	switch {
	case errors.Is(err, redis.ErrNil):
		l.counts.refused.Add(1)
		return nil, errLocked
	case err != nil:
		l.counts.failed.Add(1)
		return nil, fmt.Errorf("locking %s: %w", lk.key, err)
	}
	l.counts.won.Add(1)
	return lk, nil
}

// redisLock is one held lock.
type redisLock struct {
	pool  *redis.Pool
	key   string
	token string
}

// Unlock releases the lock if it is still ours.
func (lk *redisLock) Unlock(ctx context.Context) error {
	c, err := lk.pool.GetContext(ctx)
	if err != nil {
		return fmt.Errorf("unlocking %s: %w", lk.key, err)
	}
	defer c.Close()
	if _, err := unlockScript.DoContext(ctx, c, lk.key, lk.token); err != nil {
		return fmt.Errorf("unlocking %s: %w", lk.key, err)
	}
	return nil
}
