package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
)

const (
	// DefaultQueueBlock is how long one BRPOP waits on the server before
	// PopMany looks at its context and loops.
	DefaultQueueBlock = time.Second
	// MinQueueBlock and MaxQueueBlock bound QueueOptions.Block; the upper
	// bound keeps a blocked BRPOP under the connection's read timeout.
	MinQueueBlock = 10 * time.Millisecond
	MaxQueueBlock = 2 * time.Second

	popBackoffMin = 50 * time.Millisecond
	popBackoffMax = 5 * time.Second
	// pushChunk caps the values of one LPUSH; larger pushes are pipelined.
	pushChunk = 1000
	// logValueMax caps how much of a garbage entry is logged.
	logValueMax = 200
	// popManyPrealloc caps the capacity PopMany allocates up front.
	popManyPrealloc = 256
)

// QueueOptions configure a Queue.
type QueueOptions struct {
	// Cluster names the tock cluster; the list is KeyPrefix(Cluster) +
	// "queue". Default DefaultCluster.
	Cluster string
	// Block is the server-side wait of one BRPOP. Between MinQueueBlock
	// and MaxQueueBlock. Default DefaultQueueBlock.
	Block time.Duration
	// Clock times the backoff after Redis errors. Default clock.Real.
	Clock clock.Clock
	// Logger receives outages and skipped garbage entries. Default
	// discards.
	Logger *slog.Logger
}

// Queue is the doorbell queue on Redis lists, one per route
// (storage.QueueItem.Route): the general queue's key is KeyPrefix(Cluster)
// + "queue", a route's that plus ":" and the route. Push is LPUSH,
// PopMany is BRPOP over the general list and those of its routes then
// RPOP key count, so items of one list come out in the order they went in.
// It implements storage.Queue
// and is safe for concurrent use. An item is gone from Redis once a
// PopMany took it, even if that PopMany's context ended in the same
// instant; the reaper re-enqueues such runs from the store (I4).
type Queue struct {
	pool     *Pool
	key      string
	blockArg string
	// block is the BRPOP's server-side wait; a BRPOP that has not
	// answered block + popGrace after it was sent finds Redis gone.
	block time.Duration
	clock clock.Clock
	log   *slog.Logger

	closeCtx context.Context
	closeFn  context.CancelFunc
	// turn rotates the order of the lists BRPOP names, so that no list
	// starves the others.
	turn atomic.Uint64
	// routes remembers the routes this queue pushed to or popped from,
	// for Len.
	routes sync.Map
	closed atomic.Bool
	down   atomic.Bool
	// rpopFailing is set while RPOP key count fails, so it is logged once.
	rpopFailing atomic.Bool

	// beforePop, if set (tests), is called before each BRPOP.
	beforePop func()
}

var _ storage.Queue = (*Queue)(nil)

// NewQueue returns the queue of opts.Cluster on pool.
func NewQueue(pool *Pool, opts QueueOptions) (*Queue, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrBadQueueOptions)
	}
	cluster, err := checkCluster(opts.Cluster)
	if err != nil {
		return nil, fmt.Errorf("redis: NewQueue: %w", err)
	}
	if opts.Block == 0 {
		opts.Block = DefaultQueueBlock
	}
	if opts.Block < MinQueueBlock || opts.Block > MaxQueueBlock {
		return nil, fmt.Errorf("%w: Block %s must be between %s and %s", ErrBadQueueOptions, opts.Block, MinQueueBlock, MaxQueueBlock)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	key := KeyPrefix(cluster) + "queue"
	q := &Queue{
		pool:     pool,
		key:      key,
		blockArg: strconv.FormatFloat(opts.Block.Seconds(), 'f', -1, 64),
		block:    opts.Block,
		clock:    opts.Clock,
		log:      opts.Logger.With(slog.String("component", "redis_queue"), slog.String("key", key)),
	}
	q.closeCtx, q.closeFn = context.WithCancel(context.Background())
	return q, nil
}

// Push appends items, pipelining one LPUSH per pushChunk items.
func (q *Queue) Push(ctx context.Context, items ...storage.QueueItem) error {
	if q.closed.Load() {
		return storage.ErrClosed
	}
	if len(items) == 0 {
		return nil
	}
	c, err := q.pool.get(ctx)
	if err != nil {
		return fmt.Errorf("pushing %d items onto %s: %w", len(items), q.key, err)
	}
	defer c.Close()
	// One list per route, in the order the routes first appear.
	var order []string
	byRoute := map[string][]storage.QueueItem{}
	for _, it := range items {
		if _, seen := byRoute[it.Route]; !seen {
			order = append(order, it.Route)
		}
		byRoute[it.Route] = append(byRoute[it.Route], it)
	}
	args := make([]any, 0, 1+min(len(items), pushChunk))
	for _, route := range order {
		key := q.routeKey(route)
		list := byRoute[route]
		for start := 0; start < len(list); start += pushChunk {
			args = append(args[:0], key)
			for _, it := range list[start:min(start+pushChunk, len(list))] {
				b, err := json.Marshal(it)
				if err != nil {
					return fmt.Errorf("encoding queue item of run %d: %w", it.RunID, err)
				}
				args = append(args, b)
			}
			if err := c.Send("LPUSH", args...); err != nil {
				return fmt.Errorf("pushing %d items onto %s: %w", len(items), q.key, err)
			}
		}
	}
	replies, err := redigo.Values(redigo.DoContext(c, ctx, ""))
	if err == nil {
		for _, r := range replies {
			if e, ok := r.(redigo.Error); ok {
				err = e
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("pushing %d items onto %s: %w", len(items), q.key, err)
	}
	return nil
}

// deadlineSlack: a read error this close to ctx's deadline is ctx's.
const deadlineSlack = 50 * time.Millisecond

// popGrace is how long after its server-side wait a BRPOP may take to
// answer before Redis counts as unreachable.
const popGrace = 500 * time.Millisecond

// PopMany blocks (BRPOP) until an item arrives, ctx is done (its error is
// returned) or the queue is closed (storage.ErrClosed), then takes up to
// limit-1 more that are waiting with one RPOP key count (Redis 6.2+), and
// returns them oldest first. limit < 1 counts as 1. When Redis does not
// answer the BRPOP (refused, reset, timed out) the error is returned, so
// that the caller claims from the store meanwhile; errors Redis answers
// (WRONGTYPE…) are retried with capped backoff and logged once per outage. Entries that do not decode to a plausible item are logged
// and skipped; if nothing but garbage came, it waits again. A Redis error
// on the RPOP is logged and the items already taken are returned: entries
// it may have removed are doorbells of queued runs, which the reaper rings
// again.
func (q *Queue) PopMany(ctx context.Context, limit int, routes ...string) ([]storage.QueueItem, error) {
	if q.closed.Load() {
		return nil, storage.ErrClosed
	}
	limit = max(limit, 1)
	keys := q.popKeys(routes)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(q.closeCtx, cancel)
	defer stop()

	b := backoff{min: popBackoffMin, max: popBackoffMax}
	for {
		if err := q.stopped(ctx); err != nil {
			return nil, err
		}
		if q.beforePop != nil {
			q.beforePop()
		}
		args := make([]any, 0, len(keys)+1)
		turn := int(q.turn.Add(1) % uint64(len(keys)))
		for i := range keys {
			args = append(args, keys[(i+turn)%len(keys)])
		}
		// A Redis that does not answer at all (a blackholed link) is
		// found out within block + popGrace, not the connection's read
		// timeout, so that the caller soon claims from the store.
		bctx, bcancel := context.WithTimeout(ctx, q.block+popGrace)
		vals, err := redigo.ByteSlices(q.pool.do(bctx, "BRPOP", append(args, q.blockArg)...))
		bcancel()
		switch {
		case errors.Is(err, redigo.ErrNil):
			q.available()
			b.reset()
			continue // nothing within Block
		case err != nil:
			if err := q.stopped(ctx); err != nil {
				return nil, err
			}
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < deadlineSlack {
				// The read timed out with ctx's deadline (set on the
				// connection): the caller's deadline, not an outage.
				<-ctx.Done()
				return nil, ctx.Err()
			}
			var re redigo.Error
			if !errors.As(err, &re) {
				// Redis does not answer (refused, reset, timed out): the
				// caller claims from the store meanwhile (worker poll).
				if q.down.CompareAndSwap(false, true) {
					q.log.Warn("Redis queue unreachable", slog.Any("error", err))
				}
				return nil, fmt.Errorf("popping from the Redis queue: %w", err)
			}
			if q.down.CompareAndSwap(false, true) {
				q.log.Warn("Redis queue unavailable; retrying with backoff", slog.Any("error", err))
			}
			t := q.clock.NewTimer(b.next())
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C():
			}
			continue
		}
		q.available()
		b.reset()
		out := make([]storage.QueueItem, 0, min(limit, popManyPrealloc))
		from := q.key
		if len(vals) != 2 {
			q.log.Warn("skipping malformed BRPOP reply", slog.Int("values", len(vals)))
		} else {
			from = string(vals[0])
			if it, ok := q.decode(vals[1]); ok {
				out = append(out, it)
			}
		}
		// More from the list that answered, then from the others.
		if len(out) < limit {
			out = q.popMore(ctx, from, out, limit-len(out))
		}
		for _, k := range keys {
			if len(out) >= limit {
				break
			}
			if k != from {
				out = q.popMore(ctx, k, out, limit-len(out))
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
}

// popMore appends up to n more decoded items taken with one RPOP, unless
// ctx is done: the caller already has its first item.
func (q *Queue) popMore(ctx context.Context, key string, out []storage.QueueItem, n int) []storage.QueueItem {
	if ctx.Err() != nil {
		return out
	}
	vals, err := redigo.ByteSlices(q.pool.do(ctx, "RPOP", key, n))
	switch {
	case errors.Is(err, redigo.ErrNil):
		q.rpopFailing.Store(false)
		return out // the list is empty (or gone)
	case err != nil:
		if ctx.Err() == nil && q.rpopFailing.CompareAndSwap(false, true) {
			q.log.Warn("taking more queue entries with RPOP count (Redis 6.2 or newer is required)", slog.Any("error", err))
		}
		return out
	}
	q.rpopFailing.Store(false)
	for _, v := range vals {
		if it, ok := q.decode(v); ok {
			out = append(out, it)
		}
	}
	return out
}

// decode parses one entry, logging and rejecting garbage.
func (q *Queue) decode(b []byte) (storage.QueueItem, bool) {
	item, err := decodeItem(b)
	if err != nil {
		if len(b) > logValueMax {
			b = b[:logValueMax]
		}
		q.log.Warn("skipping garbage queue entry", slog.String("entry", string(b)), slog.Any("error", err))
		return storage.QueueItem{}, false
	}
	return item, true
}

// stopped returns storage.ErrClosed after Close, else ctx's error.
func (q *Queue) stopped(ctx context.Context) error {
	if q.closed.Load() {
		return storage.ErrClosed
	}
	return ctx.Err()
}

func (q *Queue) available() {
	if q.down.CompareAndSwap(true, false) {
		q.log.Info("Redis queue available again")
	}
}

// decodeItem parses one entry. Unknown fields are allowed, so replicas of
// a newer version may add some; an entry without a run id or job is junk.
func decodeItem(b []byte) (storage.QueueItem, error) {
	var it storage.QueueItem
	if err := json.Unmarshal(b, &it); err != nil {
		return storage.QueueItem{}, fmt.Errorf("decoding queue entry: %w", err)
	}
	if it.RunID <= 0 || it.Job == "" {
		return storage.QueueItem{}, fmt.Errorf("decoding queue entry: run_id %d, job %q: not a queued run", it.RunID, it.Job)
	}
	return it, nil
}

// routeKey is the list of route ("" the general queue).
func (q *Queue) routeKey(route string) string {
	if route == "" {
		return q.key
	}
	q.routes.Store(route, true)
	return q.key + ":" + route
}

// popKeys are the lists PopMany takes from: the general queue's and those
// of routes, each once.
func (q *Queue) popKeys(routes []string) []string {
	keys := []string{q.key}
	for _, r := range routes {
		if k := q.routeKey(r); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// Len returns the number of items waiting in the general queue and in
// the queues of the routes this Queue pushed to or popped from.
func (q *Queue) Len(ctx context.Context) (int64, error) {
	keys := []string{q.key}
	q.routes.Range(func(r, _ any) bool {
		keys = append(keys, q.key+":"+r.(string))
		return true
	})
	var total int64
	for _, k := range keys {
		n, err := redigo.Int64(q.pool.do(ctx, "LLEN", k))
		if err != nil {
			return 0, fmt.Errorf("measuring %s: %w", k, err)
		}
		total += n
	}
	return total, nil
}

// Close makes blocked and later PopManys and Pushes return
// storage.ErrClosed.
// It leaves the items in Redis and the pool open. Idempotent.
func (q *Queue) Close() error {
	q.closed.Store(true)
	q.closeFn()
	return nil
}
