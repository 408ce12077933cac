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

// Pop returns the oldest item, blocking until there is one, ctx is done
// (its error) or the queue is closed (storage.ErrClosed).
func (q *Queue) Pop(ctx context.Context) (storage.QueueItem, error) {
	if err := q.stopped(ctx); err != nil {
		return storage.QueueItem{}, err
	}
	select {
	case it := <-q.items:
		return it, nil
	case <-q.closed:
		return storage.QueueItem{}, storage.ErrClosed
	case <-ctx.Done():
		return storage.QueueItem{}, ctx.Err()
	}
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

// Close makes blocked and later Pops and Pushes return storage.ErrClosed.
// Idempotent.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() { close(q.closed) })
	return nil
}
