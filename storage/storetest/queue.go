package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

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

// QueueRoutes checks routing (storage.QueueItem.Route): PopMany takes from
// the general queue and the routes it names, never from other routes, and
// a push to another route does not end its wait. q must be empty; it is
// left empty.
func QueueRoutes(t *testing.T, q storage.Queue) {
	t.Helper()
	ctx := t.Context()
	item := func(id int64, route string) storage.QueueItem {
		return storage.QueueItem{RunID: id, Job: "job", Digest: "d", Route: route}
	}
	if err := q.Push(ctx, item(1, ""), item(2, "labels:zone=a"), item(3, "node:n2"), item(4, "labels:zone=a"), item(5, "")); err != nil {
		t.Fatal(err)
	}
	ids := func(items []storage.QueueItem) map[int64]string {
		out := map[int64]string{}
		for _, it := range items {
			out[it.RunID] = it.Route
		}
		return out
	}
	got, err := q.PopMany(ctx, 10, "labels:zone=a", "node:n1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{1: "", 2: "labels:zone=a", 4: "labels:zone=a", 5: ""}
	if g := ids(got); len(g) != len(want) || len(got) != len(want) {
		t.Fatalf("PopMany(zone=a, n1) = %v, want %v", g, want)
	}
	for id, r := range want {
		if g, ok := ids(got)[id]; !ok || g != r {
			t.Fatalf("PopMany(zone=a, n1) = %v, want %v", ids(got), want)
		}
	}
	// Only n2's item is left, and a worker that does not serve n2 waits.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if got, err := q.PopMany(short, 10, "labels:zone=a"); err == nil {
		t.Fatalf("PopMany(zone=a) took %v from another route", ids(got))
	}
	// A push to another route does not end a wait; one to its route does.
	res := make(chan []storage.QueueItem, 1)
	go func() {
		got, err := q.PopMany(ctx, 10, "labels:gpu=true")
		if err != nil {
			t.Errorf("PopMany(gpu=true): %v", err)
		}
		res <- got
	}()
	if err := q.Push(ctx, item(6, "labels:zone=b")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-res:
		t.Fatalf("PopMany(gpu=true) took %v pushed to another route", ids(got))
	case <-time.After(300 * time.Millisecond):
	}
	if err := q.Push(ctx, item(7, "labels:gpu=true")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-res:
		if g := ids(got); len(got) != 1 || g[7] != "labels:gpu=true" {
			t.Fatalf("PopMany(gpu=true) = %v, want run 7", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PopMany(gpu=true) did not return after a push to its route")
	}
	// The rest, by their routes.
	got, err = q.PopMany(ctx, 10, "node:n2", "labels:zone=b")
	if err != nil {
		t.Fatal(err)
	}
	if g := ids(got); len(got) != 2 || g[3] != "node:n2" || g[6] != "labels:zone=b" {
		t.Fatalf("PopMany(n2, zone=b) = %v, want runs 3 and 6", g)
	}
	if n, err := q.Len(ctx); err != nil || n != 0 {
		t.Fatalf("Len = (%d, %v) after taking everything, want 0", n, err)
	}
}
