package memory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitFor = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func item(id int64) storage.QueueItem {
	return storage.QueueItem{RunID: id, Job: "job", Digest: "d"}
}

func TestLease(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fake := clock.NewFake(t0)
	l := NewLease(fake)
	ctx := context.Background()

	won, dl, err := l.Acquire(ctx)
	if err != nil || !won || !dl.Equal(t0.Add(LeaseTTL)) {
		t.Fatalf("Acquire = %v, %s, %v; want won with deadline now + LeaseTTL", won, dl, err)
	}
	// A second acquirer in the same process wins too: there is only one.
	if won, _, err := NewLease(fake).Acquire(ctx); err != nil || !won {
		t.Fatalf("second Acquire = %v, %v", won, err)
	}
	fake.Advance(time.Hour)
	if dl, err := l.Renew(ctx); err != nil || !dl.Equal(t0.Add(time.Hour+LeaseTTL)) {
		t.Fatalf("Renew = %s, %v; want now + LeaseTTL", dl, err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if won, _, err := l.Acquire(ctx); err != nil || !won {
		t.Fatalf("Acquire after Release = %v, %v", won, err)
	}
	if l.TTL() != LeaseTTL {
		t.Errorf("TTL = %s", l.TTL())
	}
	ch := l.Released(ctx)
	if ch == nil {
		t.Fatal("Released returned a nil channel")
	}
	select {
	case <-ch:
		t.Fatal("Released fired (or is closed)")
	default:
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := l.Acquire(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with canceled ctx = %v", err)
	}
	if _, err := l.Renew(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Renew with canceled ctx = %v", err)
	}
	if won, dl, err := NewLease(nil).Acquire(ctx); err != nil || !won || time.Until(dl) < LeaseTTL-time.Hour {
		t.Errorf("real-clock Acquire = %v, %s, %v", won, dl, err)
	}
}

func TestNewQueueOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		capacity int
		wantCap  int
		wantErr  bool
	}{
		{0, DefaultQueueCapacity, false},
		{5, 5, false},
		{-1, 0, true},
	}
	for _, tt := range tests {
		q, err := NewQueue(QueueOptions{Capacity: tt.capacity})
		if tt.wantErr {
			if !errors.Is(err, ErrBadQueueOptions) {
				t.Errorf("NewQueue(%d) error = %v", tt.capacity, err)
			}
			continue
		}
		if err != nil || q.capacity != tt.wantCap {
			t.Errorf("NewQueue(%d) = cap %d, %v; want cap %d", tt.capacity, q.capacity, err, tt.wantCap)
		}
	}
}

func newQueue(t *testing.T, capacity int) *Queue {
	t.Helper()
	q, err := NewQueue(QueueOptions{Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestQueueFIFOAndDrops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueue(t, 3)
	if err := q.Push(ctx, item(1), item(2)); err != nil {
		t.Fatal(err)
	}
	// One fits, two are dropped; Push does not block or fail.
	if err := q.Push(ctx, item(3), item(4), item(5)); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Len(ctx); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	if q.Dropped() != 2 {
		t.Fatalf("Dropped = %d, want 2", q.Dropped())
	}
	for want := int64(1); want <= 3; want++ {
		got, err := storetest.PopOne(ctx, q)
		if err != nil || got != item(want) {
			t.Fatalf("Pop = %+v, %v; want %+v", got, err, item(want))
		}
	}
	// Room again after popping.
	if err := q.Push(ctx, item(6)); err != nil {
		t.Fatal(err)
	}
	if got, err := storetest.PopOne(ctx, q); err != nil || got != item(6) {
		t.Fatalf("Pop = %+v, %v; want item 6", got, err)
	}
	if q.Dropped() != 2 {
		t.Fatalf("Dropped = %d, want still 2", q.Dropped())
	}
}

// TestQueuePopWaits: PopMany of one item or of several waits for a push, a
// cancel or a close, and returns the one item that arrived without waiting
// for more.
func TestQueuePopWaits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		act  func(q *Queue, cancel context.CancelFunc)
		want error
	}{
		{"push", func(q *Queue, _ context.CancelFunc) { q.Push(context.Background(), item(7)) }, nil},
		{"cancel", func(_ *Queue, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"close", func(q *Queue, _ context.CancelFunc) { q.Close() }, storage.ErrClosed},
	}
	pops := map[string]func(q *Queue, ctx context.Context) ([]storage.QueueItem, error){
		"PopMany(1)": func(q *Queue, ctx context.Context) ([]storage.QueueItem, error) { return q.PopMany(ctx, 1) },
		"PopMany(5)": func(q *Queue, ctx context.Context) ([]storage.QueueItem, error) { return q.PopMany(ctx, 5) },
	}
	for call, pop := range pops {
		for _, tt := range tests {
			t.Run(call+"/"+tt.name, func(t *testing.T) {
				q := newQueue(t, 10)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				type result struct {
					items []storage.QueueItem
					err   error
				}
				res := make(chan result, 1)
				go func() {
					items, err := pop(q, ctx)
					res <- result{items, err}
				}()
				tt.act(q, cancel)
				r := recv(t, res, call)
				if !errors.Is(r.err, tt.want) {
					t.Fatalf("%s error = %v, want %v", call, r.err, tt.want)
				}
				if tt.want == nil && (len(r.items) != 1 || r.items[0] != item(7)) {
					t.Fatalf("%s = %+v, want item 7 alone", call, r.items)
				}
			})
		}
	}
}

func TestQueueDeadline(t *testing.T) {
	t.Parallel()
	q := newQueue(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := storetest.PopOne(ctx, q); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pop = %v, want DeadlineExceeded", err)
	}
	if err := q.Push(ctx, item(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Push with a done ctx = %v, want DeadlineExceeded", err)
	}
}

func TestQueueClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueue(t, 10)
	if err := q.Push(ctx, item(1)); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Close stops Pops even with items left; they are the store's to resend.
	if _, err := storetest.PopOne(ctx, q); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Pop after Close = %v, want ErrClosed", err)
	}
	if err := q.Push(ctx, item(2)); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Push after Close = %v, want ErrClosed", err)
	}
}

// TestQueueManyProducersAndConsumers runs under -race: every pushed item is
// popped exactly once or counted as dropped, never both, never twice.
func TestQueueManyProducersAndConsumers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		capacity int
	}{
		{"roomy", 100_000},
		{"tight", 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const producers, consumers, perProducer = 8, 8, 2000
			const total = producers * perProducer
			q := newQueue(t, tt.capacity)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			var mu sync.Mutex
			seen := make(map[int64]int, total)
			progress := make(chan struct{}, 1)
			var cwg sync.WaitGroup
			for range consumers {
				cwg.Go(func() {
					for {
						it, err := storetest.PopOne(ctx, q)
						if err != nil {
							if !errors.Is(err, context.Canceled) {
								t.Errorf("Pop: %v", err)
							}
							return
						}
						mu.Lock()
						seen[it.RunID]++
						mu.Unlock()
						select {
						case progress <- struct{}{}:
						default:
						}
					}
				})
			}
			var pwg sync.WaitGroup
			for p := range producers {
				pwg.Go(func() {
					for i := range perProducer {
						if err := q.Push(ctx, item(int64(p*perProducer+i+1))); err != nil {
							t.Errorf("Push: %v", err)
							return
						}
					}
				})
			}
			pwg.Wait()
			// Pushing is over, so Dropped is final: wait until the consumers
			// popped everything else, then stop them.
			for {
				mu.Lock()
				n := len(seen)
				mu.Unlock()
				if int64(n)+q.Dropped() >= total {
					break
				}
				recv(t, progress, "consumers to drain the queue")
			}
			cancel()
			cwg.Wait()
			for id, n := range seen {
				if n != 1 || id < 1 || id > total {
					t.Errorf("run %d popped %d times", id, n)
				}
			}
			if tt.capacity >= total && q.Dropped() != 0 {
				t.Errorf("Dropped = %d with room for everything", q.Dropped())
			}
			if n, _ := q.Len(ctx); n != 0 {
				t.Errorf("Len = %d after draining", n)
			}
		})
	}
}

func TestQueuePopMany(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueue(t, 100)
	for i := int64(1); i <= 10; i++ {
		if err := q.Push(ctx, item(i)); err != nil {
			t.Fatal(err)
		}
	}
	next := int64(1)
	for _, tc := range []struct{ limit, want int }{{4, 4}, {0, 1}, {-3, 1}, {1, 1}, {100, 3}} {
		got, err := q.PopMany(ctx, tc.limit)
		if err != nil || len(got) != tc.want {
			t.Fatalf("PopMany(%d) = %v, %v; want %d items", tc.limit, got, err, tc.want)
		}
		for _, it := range got {
			if it != item(next) {
				t.Fatalf("PopMany(%d) = %v; want items in push order from %d", tc.limit, got, next)
			}
			next++
		}
	}
	if n, _ := q.Len(ctx); n != 0 {
		t.Fatalf("Len = %d after popping everything", n)
	}
}

func TestQueuePopManyDeadline(t *testing.T) {
	t.Parallel()
	q := newQueue(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if got, err := q.PopMany(ctx, 3); !errors.Is(err, context.DeadlineExceeded) || got != nil {
		t.Fatalf("PopMany on an empty queue = %v, %v; want nil, DeadlineExceeded", got, err)
	}
}

// TestQueuePopManyConsumers runs under -race: consumers taking batches
// together take every item exactly once.
func TestQueuePopManyConsumers(t *testing.T) {
	t.Parallel()
	const consumers, total = 4, 5000
	storetest.PopManyExactlyOnce(t, newQueue(t, total), consumers, total)
}

func TestQueueRoutes(t *testing.T) {
	t.Parallel()
	storetest.QueueRoutes(t, newQueue(t, 100))
}

// TestQueueRoutesOldestFirst: across the general queue and a route,
// items come out in push order.
func TestQueueRoutesOldestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueue(t, 100)
	for i := int64(1); i <= 6; i++ {
		it := item(i)
		if i%2 == 0 {
			it.Route = "labels:zone=a"
		}
		if err := q.Push(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	got, err := q.PopMany(ctx, 10, "labels:zone=a")
	if err != nil || len(got) != 6 {
		t.Fatalf("PopMany = %v, %v", got, err)
	}
	for i, it := range got {
		if it.RunID != int64(i+1) {
			t.Fatalf("PopMany = %v, want push order", got)
		}
	}
	// Capacity counts every route.
	small := newQueue(t, 2)
	_ = small.Push(ctx, storage.QueueItem{RunID: 1, Job: "j", Route: "a"}, storage.QueueItem{RunID: 2, Job: "j"},
		storage.QueueItem{RunID: 3, Job: "j", Route: "b"})
	if n, _ := small.Len(ctx); n != 2 || small.Dropped() != 1 {
		t.Fatalf("Len %d, Dropped %d; want 2 and 1", n, small.Dropped())
	}
}
