package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tock-sched/tock/storage"
)

// DefaultQueueCapacity is the queue's capacity when none is given.
const DefaultQueueCapacity = 100_000

// ErrBadQueueOptions: the capacity is negative.
var ErrBadQueueOptions = errors.New("memory: NewQueue: bad options")

// QueueOptions configure a Queue.
type QueueOptions struct {
	// Capacity is how many items wait at most, over all routes; Push
	// drops the rest. Default DefaultQueueCapacity.
	Capacity int
}

// Queue is a bounded in-process FIFO per route (storage.QueueItem.Route).
// Push never blocks: when the queue is full the item is dropped and
// counted, and the reaper re-enqueues the run from the store later. It
// implements storage.Queue and is safe for concurrent use.
type Queue struct {
	capacity  int
	closed    chan struct{}
	closeOnce sync.Once
	dropped   atomic.Int64

	mu     sync.Mutex
	routes map[string]*fifo
	n      int
	seq    uint64
	// wake is closed (and replaced) by every Push that adds an item.
	wake chan struct{}
}

// fifo holds one route's items with their push sequence numbers.
type fifo struct {
	items []storage.QueueItem
	seqs  []uint64
}

func (f *fifo) pop() storage.QueueItem {
	it := f.items[0]
	f.items[0] = storage.QueueItem{}
	f.items, f.seqs = f.items[1:], f.seqs[1:]
	return it
}

var _ storage.Queue = (*Queue)(nil)

// NewQueue returns an empty queue.
func NewQueue(opts QueueOptions) (*Queue, error) {
	if opts.Capacity < 0 {
		return nil, fmt.Errorf("%w: Capacity %d is negative", ErrBadQueueOptions, opts.Capacity)
	}
	if opts.Capacity == 0 {
		opts.Capacity = DefaultQueueCapacity
	}
	return &Queue{
		capacity: opts.Capacity,
		closed:   make(chan struct{}),
		routes:   map[string]*fifo{},
		wake:     make(chan struct{}),
	}, nil
}

// Push appends items to their routes' queues without blocking, dropping
// those that do not fit. It returns storage.ErrClosed after Close, and
// ctx's error if ctx is already done.
func (q *Queue) Push(ctx context.Context, items ...storage.QueueItem) error {
	if err := q.stopped(ctx); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	added := false
	for _, it := range items {
		if q.n >= q.capacity {
			q.dropped.Add(1)
			continue
		}
		f := q.routes[it.Route]
		if f == nil {
			f = &fifo{}
			q.routes[it.Route] = f
		}
		q.seq++
		f.items, f.seqs = append(f.items, it), append(f.seqs, q.seq)
		q.n++
		added = true
	}
	if added {
		close(q.wake)
		q.wake = make(chan struct{})
	}
	return nil
}

// PopMany returns the oldest item of the general queue and of the queues
// of routes, and up to limit-1 more that are waiting there, oldest first
// (by push order across those queues), blocking until there is at least
// one, ctx is done (its error) or the queue is closed (storage.ErrClosed).
// limit < 1 counts as 1.
func (q *Queue) PopMany(ctx context.Context, limit int, routes ...string) ([]storage.QueueItem, error) {
	limit = max(limit, 1)
	for {
		if err := q.stopped(ctx); err != nil {
			return nil, err
		}
		q.mu.Lock()
		out := q.take(limit, routes)
		wake := q.wake
		q.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-wake:
		case <-q.closed:
			return nil, storage.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// take removes up to limit items from the general queue and routes,
// oldest first. q.mu is held.
func (q *Queue) take(limit int, routes []string) []storage.QueueItem {
	fs := make([]*fifo, 0, 1+len(routes))
	if f := q.routes[""]; f != nil {
		fs = append(fs, f)
	}
	for _, r := range routes {
		if f := q.routes[r]; f != nil && r != "" {
			fs = append(fs, f)
		}
	}
	var out []storage.QueueItem
	for len(out) < limit {
		var oldest *fifo
		for _, f := range fs {
			if len(f.items) > 0 && (oldest == nil || f.seqs[0] < oldest.seqs[0]) {
				oldest = f
			}
		}
		if oldest == nil {
			break
		}
		out = append(out, oldest.pop())
		q.n--
	}
	// Forget emptied routes: pinned-node and label routes come and go.
	forget := func(r string) {
		if f := q.routes[r]; f != nil && len(f.items) == 0 {
			delete(q.routes, r)
		}
	}
	forget("")
	for _, r := range routes {
		forget(r)
	}
	return out
}

func (q *Queue) stopped(ctx context.Context) error {
	select {
	case <-q.closed:
		return storage.ErrClosed
	default:
	}
	return ctx.Err()
}

// Len returns the number of items waiting, over all routes.
func (q *Queue) Len(context.Context) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int64(q.n), nil
}

// Dropped returns how many items Push dropped because the queue was full.
func (q *Queue) Dropped() int64 { return q.dropped.Load() }

// Close makes blocked and later PopManys and Pushes return
// storage.ErrClosed.
// Idempotent.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() { close(q.closed) })
	return nil
}
