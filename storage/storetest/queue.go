package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/tock-sched/tock/storage"
)

// PopOne takes one item with PopMany, blocking like it, for tests that
// take items one at a time.
func PopOne(ctx context.Context, q storage.Queue) (storage.QueueItem, error) {
	items, err := q.PopMany(ctx, 1)
	if err != nil {
		return storage.QueueItem{}, err
	}
	return items[0], nil
}

// PopManyExactlyOnce pushes items with run ids 1..total to q and has
// consumers goroutines take them with PopMany in batches of different sizes
// until all are taken; it fails t unless every item was taken exactly once.
// Run it under -race.
func PopManyExactlyOnce(t *testing.T, q storage.Queue, consumers, total int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	items := make([]storage.QueueItem, total)
	for i := range items {
		items[i] = storage.QueueItem{RunID: int64(i + 1), Job: "job", Digest: "d"}
	}
	if err := q.Push(ctx, items...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := make(map[int64]int, total)
	var wg sync.WaitGroup
	for c := range consumers {
		wg.Go(func() {
			for {
				got, err := q.PopMany(ctx, 1+c*7)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("PopMany: %v", err)
					}
					return
				}
				mu.Lock()
				for _, it := range got {
					seen[it.RunID]++
				}
				if len(seen) == total {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("%d of %d items popped", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("run %d popped %d times", id, n)
		}
	}
}
