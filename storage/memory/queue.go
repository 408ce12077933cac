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
	// Capacity is how many items wait at most; Push drops the rest.
	// Default DefaultQueueCapacity.
	Capacity int
}

// Queue is a bounded in-process FIFO. Push never blocks: when the queue is
// full the item is dropped and counted, and the reaper re-enqueues the run
// from the store later. It implements storage.Queue and is safe for
// concurrent use.
type Queue struct {
	items     chan storage.QueueItem
	closed    chan struct{}
	closeOnce sync.Once
	dropped   atomic.Int64
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
		items:  make(chan storage.QueueItem, opts.Capacity),
		closed: make(chan struct{}),
	}, nil
}

// Push appends items without blocking, dropping those that do not fit.
// It returns storage.ErrClosed after Close, and ctx's error if ctx is
// already done.
func (q *Queue) Push(ctx context.Context, items ...storage.QueueItem) error {
	if err := q.stopped(ctx); err != nil {
		return err
	}
	for _, it := range items {
		select {
		case q.items <- it:
		default:
			q.dropped.Add(1)
		}
	}
	return nil
}

// PopMany returns the oldest item and up to limit-1 more that are
// waiting, oldest first, blocking until there is at least one, ctx is done
// (its error) or the queue is closed (storage.ErrClosed). limit < 1
// counts as 1.
func (q *Queue) PopMany(ctx context.Context, limit int) ([]storage.QueueItem, error) {
	if err := q.stopped(ctx); err != nil {
		return nil, err
	}
	var first storage.QueueItem
	select {
	case first = <-q.items:
	case <-q.closed:
		return nil, storage.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	limit = min(max(limit, 1), 1+len(q.items))
	out := make([]storage.QueueItem, 1, limit)
	out[0] = first
	for len(out) < limit {
		select {
		case it := <-q.items:
			out = append(out, it)
		default:
			return out, nil
		}
	}
	return out, nil
}

func (q *Queue) stopped(ctx context.Context) error {
	select {
	case <-q.closed:
		return storage.ErrClosed
	default:
	}
	return ctx.Err()
}

// Len returns the number of items waiting.
func (q *Queue) Len(context.Context) (int64, error) {
	return int64(len(q.items)), nil
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
