package storage

import (
	"context"
	"time"
)

// QueueItem is a doorbell for one queued run. It carries nothing a worker
// trusts: the worker claims the run in the store and runs its own copy of
// the job (I4, I7).
type QueueItem struct {
	RunID  int64  `json:"run_id"`
	Job    string `json:"job"`
	Digest string `json:"digest"`
	// NotBefore, when set, is the run's not_before: a leader with a
	// lookahead rings the doorbell of a run shortly before it is due, and
	// the worker claims it ahead and starts it at that instant. A hint only:
	// the claim checks the row.
	NotBefore time.Time `json:"not_before,omitzero"`
	// Route names the queue the item goes to: "" the general queue, which
	// every worker pops; otherwise a queue only the workers that may run
	// the run pop (jobs.Run.Route: its required labels, or the node a
	// broadcast shard is pinned to), so that a replica that may not run a
	// run never takes its doorbell from one that may.
	Route string `json:"route,omitempty"`
}

// Queue hands queued runs to workers. Losing its contents loses no run: the
// reaper re-enqueues queued runs from the store.
type Queue interface {
	// Push appends each item to the queue of its Route.
	Push(ctx context.Context, items ...QueueItem) error
	// PopMany blocks until at least one item is available in the general
	// queue or in the queue of one of routes, or ctx is done, then returns
	// it with up to max-1 more that are already waiting in those queues,
	// oldest first within each queue, without blocking again. Items of
	// other routes stay where they are. max < 1 counts as 1. It returns an
	// error when the queue cannot be reached (Redis refused, reset or timed
	// out: the caller claims from the store meanwhile), and goes on waiting,
	// with backoff, through errors the server answers.
	PopMany(ctx context.Context, max int, routes ...string) ([]QueueItem, error)
	// Len returns the number of items waiting.
	Len(ctx context.Context) (int64, error)
	// Close releases the queue; blocked PopManys return ErrClosed.
	Close() error
}

// Lease is the leader lease (I3).
type Lease interface {
	// Acquire tries once to take the lease. On success it returns the local
	// deadline: when the request was sent, plus the TTL, minus a safety
	// margin, on the monotonic clock.
	Acquire(ctx context.Context) (won bool, deadline time.Time, err error)
	// Renew extends a held lease and returns the new local deadline.
	// ErrLeaseLost means another holder has it: step down at once.
	Renew(ctx context.Context) (deadline time.Time, err error)
	// Release gives the lease up, if still held, and tells the others.
	Release(ctx context.Context) error
	// Released returns a channel that receives when a holder releases the
	// lease, so standbys retry at once; ctx ends the subscription.
	Released(ctx context.Context) <-chan struct{}
	// TTL is the lease's time to live.
	TTL() time.Duration
}

// LeaseExpiry is implemented by a Lease that can tell how long the lease
// held by someone else still lives, so that a standby tries again the
// moment it expires instead of at its next poll.
type LeaseExpiry interface {
	// Expiry returns the time left on the current holder's lease; zero
	// when nobody holds it.
	Expiry(ctx context.Context) (time.Duration, error)
}
