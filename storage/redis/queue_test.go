package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/redis/redistest"
	"github.com/tock-sched/tock/storage/storetest"
)

func newTestQueue(t *testing.T, p *Pool, opts QueueOptions) *Queue {
	t.Helper()
	q, err := NewQueue(p, opts)
	if err != nil {
		t.Fatalf("NewQueue: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func item(id int64) storage.QueueItem {
	return storage.QueueItem{RunID: id, Job: fmt.Sprintf("job-%d", id%7), Digest: "sha256:abc"}
}

// popAsync pops in a goroutine the test waits for through the returned
// channel.
type popResult struct {
	item storage.QueueItem
	err  error
	at   time.Time
}

func popAsync(ctx context.Context, q *Queue) <-chan popResult {
	ch := make(chan popResult, 1)
	go func() {
		it, err := storetest.PopOne(ctx, q)
		ch <- popResult{it, err, time.Now()}
	}()
	return ch
}

// popSignals makes each BRPOP of q announce itself on the returned channel.
func popSignals(q *Queue) <-chan struct{} {
	ch := make(chan struct{}, 1000)
	q.beforePop = func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return ch
}

func TestQueueOptions(t *testing.T) {
	t.Parallel()
	p, err := NewPool("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tests := []struct {
		name    string
		opts    QueueOptions
		wantArg string
		wantKey string
		wantErr error
	}{
		{"defaults", QueueOptions{}, "1", "tock:{default}:queue", nil},
		{"fractional block", QueueOptions{Cluster: "c1", Block: 100 * time.Millisecond}, "0.1", "tock:{c1}:queue", nil},
		{"longest block", QueueOptions{Block: MaxQueueBlock}, "2", "tock:{default}:queue", nil},
		{"block too short", QueueOptions{Block: time.Millisecond}, "", "", ErrBadQueueOptions},
		{"block too long", QueueOptions{Block: 3 * time.Second}, "", "", ErrBadQueueOptions},
		{"bad cluster", QueueOptions{Cluster: "x{y}"}, "", "", ErrBadCluster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := NewQueue(p, tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NewQueue error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			if q.blockArg != tt.wantArg || q.key != tt.wantKey {
				t.Errorf("block, key = %q, %q; want %q, %q", q.blockArg, q.key, tt.wantArg, tt.wantKey)
			}
		})
	}
	if _, err := NewQueue(nil, QueueOptions{}); !errors.Is(err, ErrBadQueueOptions) {
		t.Errorf("NewQueue(nil) error = %v", err)
	}
}

func TestQueueFIFO(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster})
	if err := q.Push(ctx, item(1), item(2), item(3)); err != nil {
		t.Fatal(err)
	}
	if err := q.Push(ctx, item(4)); err != nil {
		t.Fatal(err)
	}
	if err := q.Push(ctx); err != nil {
		t.Fatalf("empty Push: %v", err)
	}
	if n, err := q.Len(ctx); err != nil || n != 4 {
		t.Fatalf("Len = %d, %v; want 4", n, err)
	}
	for want := int64(1); want <= 4; want++ {
		got, err := storetest.PopOne(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got != item(want) {
			t.Fatalf("Pop = %+v, want %+v", got, item(want))
		}
	}
	if n, err := q.Len(ctx); err != nil || n != 0 {
		t.Fatalf("Len = %d, %v; want 0", n, err)
	}
}

func TestQueueManyItems(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster})
	const n = 2*pushChunk + 500 // several pipelined LPUSHes
	items := make([]storage.QueueItem, n)
	for i := range items {
		items[i] = item(int64(i + 1))
	}
	if err := q.Push(ctx, items...); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Len(ctx); err != nil || got != n {
		t.Fatalf("Len = %d, %v; want %d", got, err, n)
	}
	for i := range items {
		got, err := storetest.PopOne(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got != items[i] {
			t.Fatalf("Pop #%d = %+v, want %+v", i, got, items[i])
		}
	}
}

func TestQueuePopBlocksUntilPush(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Block: 50 * time.Millisecond})
	pops := popSignals(q)
	res := popAsync(ctx, q)
	// The second BRPOP means the first one came back empty and Pop kept
	// waiting instead of returning.
	recv(t, pops, "first BRPOP")
	recv(t, pops, "second BRPOP")
	if err := q.Push(ctx, item(42)); err != nil {
		t.Fatal(err)
	}
	r := recv(t, res, "Pop")
	if r.err != nil || r.item != item(42) {
		t.Fatalf("Pop = %+v, %v; want item 42", r.item, r.err)
	}
}

func TestQueuePopReturnsOnContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		trigger func(cancel context.CancelFunc)
		want    error
	}{
		{"canceled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			func(cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, func(context.CancelFunc) {}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, cluster := newTestPool(t)
			q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Block: MaxQueueBlock})
			pops := popSignals(q)
			ctx, cancel := tt.ctx()
			defer cancel()
			res := popAsync(ctx, q)
			recv(t, pops, "BRPOP")
			start := time.Now()
			tt.trigger(cancel)
			r := recv(t, res, "Pop")
			if !errors.Is(r.err, tt.want) {
				t.Fatalf("Pop error = %v, want %v", r.err, tt.want)
			}
			// Promptly: not after the server-side block ran out.
			if d := r.at.Sub(start); d >= MaxQueueBlock {
				t.Errorf("Pop returned %s after the context ended; want well under the %s block", d, MaxQueueBlock)
			}
		})
	}
}

func TestQueueCloseUnblocksPop(t *testing.T) {
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Block: MaxQueueBlock})
	pops := popSignals(q)
	res := popAsync(ctx, q)
	recv(t, pops, "BRPOP")
	start := time.Now()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	r := recv(t, res, "Pop")
	if !errors.Is(r.err, storage.ErrClosed) {
		t.Fatalf("Pop after Close = %v, want ErrClosed", r.err)
	}
	if d := r.at.Sub(start); d >= MaxQueueBlock {
		t.Errorf("Pop returned %s after Close; want well under the %s block", d, MaxQueueBlock)
	}
	if _, err := storetest.PopOne(ctx, q); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Pop on closed queue = %v, want ErrClosed", err)
	}
	if err := q.Push(ctx, item(1)); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Push on closed queue = %v, want ErrClosed", err)
	}
	if err := q.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestQueueSkipsGarbage(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	logs := &logBuffer{}
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Logger: logs.logger()})
	garbage := []string{
		"not json",
		"{}",
		`{"run_id":-1,"job":"x"}`,
		`{"run_id":7}`,
		`{"run_id":"7","job":"x"}`,
		`[1,2,3]`,
	}
	for _, g := range garbage {
		rdo(t, p, "LPUSH", q.key, g)
	}
	if err := q.Push(ctx, item(9)); err != nil {
		t.Fatal(err)
	}
	// A newer replica's extra fields are tolerated.
	rdo(t, p, "LPUSH", q.key, `{"run_id":10,"job":"job-3","digest":"d","priority":5}`)

	got, err := storetest.PopOne(ctx, q)
	if err != nil || got != item(9) {
		t.Fatalf("Pop = %+v, %v; want item 9 after skipping garbage", got, err)
	}
	got, err = storetest.PopOne(ctx, q)
	if want := (storage.QueueItem{RunID: 10, Job: "job-3", Digest: "d"}); err != nil || got != want {
		t.Fatalf("Pop = %+v, %v; want %+v", got, err, want)
	}
	if n := logs.count("skipping garbage queue entry"); n != len(garbage) {
		t.Errorf("logged %d garbage entries, want %d", n, len(garbage))
	}
}

func TestQueueBacksOffOnRedisErrors(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	fake := clock.NewFake(t0)
	logs := &logBuffer{}
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Clock: fake, Logger: logs.logger()})
	rdo(t, p, "SET", q.key, "not a list") // every BRPOP now fails with WRONGTYPE
	res := popAsync(ctx, q)

	// The waits double from popBackoffMin up to popBackoffMax.
	wait := popBackoffMin
	for range 10 {
		recv(t, fake.BlockUntil(1), "backoff timer")
		fake.Advance(wait - time.Millisecond)
		if fake.Timers() != 1 {
			t.Fatalf("backoff of %s fired early", wait)
		}
		fake.Advance(time.Millisecond)
		wait = min(2*wait, popBackoffMax)
	}
	recv(t, fake.BlockUntil(1), "backoff timer")
	select {
	case r := <-res:
		t.Fatalf("Pop returned %+v, %v during an outage; want it to keep trying", r.item, r.err)
	default:
	}
	rdo(t, p, "DEL", q.key)
	if err := q.Push(ctx, item(5)); err != nil {
		t.Fatal(err)
	}
	fake.Advance(popBackoffMax)
	r := recv(t, res, "Pop")
	if r.err != nil || r.item != item(5) {
		t.Fatalf("Pop = %+v, %v; want item 5", r.item, r.err)
	}
	if n := logs.count("Redis queue unavailable"); n != 1 {
		t.Errorf("outage logged %d times, want once", n)
	}
	if n := logs.count("Redis queue available again"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
}

// TestQueueSurvivesKeyLoss: Redis forgetting everything (FLUSHALL, a
// failover without persistence) empties the doorbell but breaks nothing.
func TestQueueSurvivesKeyLoss(t *testing.T) {
	t.Parallel()
	url, cluster := redistest.New(t)
	p, err := NewPool(url)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := ctxT(t)
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Block: 50 * time.Millisecond})
	if err := q.Push(ctx, item(1), item(2), item(3)); err != nil {
		t.Fatal(err)
	}
	if n, err := redistest.DeleteKeys(url, cluster); err != nil || n != 1 {
		t.Fatalf("DeleteKeys = %d, %v; want the queue deleted", n, err)
	}
	if n, err := q.Len(ctx); err != nil || n != 0 {
		t.Fatalf("Len after key loss = %d, %v; want 0", n, err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := storetest.PopOne(short, q); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pop on a lost list = %v, want DeadlineExceeded", err)
	}
	if err := q.Push(ctx, item(4)); err != nil {
		t.Fatal(err)
	}
	if got, err := storetest.PopOne(ctx, q); err != nil || got != item(4) {
		t.Fatalf("Pop after key loss = %+v, %v; want item 4", got, err)
	}
}

func TestQueueConcurrentProducersAndConsumers(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Block: 100 * time.Millisecond})
	const producers, consumers, perProducer = 4, 4, 250
	const total = producers * perProducer

	var mu sync.Mutex
	seen := make(map[int64]int)
	allSeen := make(chan struct{})
	var wg sync.WaitGroup
	for range consumers {
		wg.Go(func() {
			for {
				it, err := storetest.PopOne(ctx, q)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("Pop: %v", err)
					}
					return
				}
				mu.Lock()
				seen[it.RunID]++
				if len(seen) == total && seen[it.RunID] == 1 {
					close(allSeen) // once: only the first sighting of the last id
				}
				mu.Unlock()
			}
		})
	}
	var pwg sync.WaitGroup
	for i := range producers {
		pwg.Go(func() {
			for j := range perProducer {
				id := int64(i*perProducer + j + 1)
				if err := q.Push(ctx, item(id)); err != nil {
					t.Errorf("Push: %v", err)
					return
				}
			}
		})
	}
	pwg.Wait()
	recv(t, allSeen, "all items")
	cancel()
	wg.Wait()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("run %d popped %d times", id, n)
		}
	}
}

func popManyAsync(ctx context.Context, q *Queue, limit int) <-chan popManyResult {
	ch := make(chan popManyResult, 1)
	go func() {
		items, err := q.PopMany(ctx, limit)
		ch <- popManyResult{items, err}
	}()
	return ch
}

type popManyResult struct {
	items []storage.QueueItem
	err   error
}

func TestQueuePopManyFIFO(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster})
	var items []storage.QueueItem
	for i := int64(1); i <= 10; i++ {
		items = append(items, item(i))
	}
	if err := q.Push(ctx, items...); err != nil {
		t.Fatal(err)
	}
	next := int64(1)
	for _, tc := range []struct{ limit, want int }{{4, 4}, {0, 1}, {1, 1}, {100, 4}} {
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
	if n, err := q.Len(ctx); err != nil || n != 0 {
		t.Fatalf("Len = %d, %v; want 0", n, err)
	}
}

func TestQueuePopManyBlocksUntilPush(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Block: 50 * time.Millisecond})
	pops := popSignals(q)
	res := popManyAsync(ctx, q, 10)
	// The second BRPOP means the first came back empty and PopMany kept
	// waiting instead of returning nothing.
	recv(t, pops, "first BRPOP")
	recv(t, pops, "second BRPOP")
	if err := q.Push(ctx, item(1), item(2), item(3)); err != nil {
		t.Fatal(err)
	}
	r := recv(t, res, "PopMany")
	if r.err != nil || len(r.items) != 3 || r.items[0] != item(1) || r.items[1] != item(2) || r.items[2] != item(3) {
		t.Fatalf("PopMany = %+v, %v; want items 1, 2, 3", r.items, r.err)
	}
}

func TestQueuePopManyReturnsOnContextAndClose(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Block: MaxQueueBlock})
	pops := popSignals(q)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := popManyAsync(ctx, q, 5)
	recv(t, pops, "BRPOP")
	cancel()
	if r := recv(t, res, "PopMany"); !errors.Is(r.err, context.Canceled) || r.items != nil {
		t.Fatalf("PopMany after cancel = %v, %v; want nil, Canceled", r.items, r.err)
	}
	res = popManyAsync(ctxT(t), q, 5)
	recv(t, pops, "BRPOP")
	q.Close()
	if r := recv(t, res, "PopMany"); !errors.Is(r.err, storage.ErrClosed) {
		t.Fatalf("PopMany after Close = %v, want ErrClosed", r.err)
	}
	if _, err := q.PopMany(ctxT(t), 5); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("PopMany on a closed queue = %v, want ErrClosed", err)
	}
}

func TestQueuePopManySkipsGarbage(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	ctx := ctxT(t)
	logs := &logBuffer{}
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Logger: logs.logger(), Block: 50 * time.Millisecond})
	// Oldest first: garbage is taken by the BRPOP and by the RPOP.
	rdo(t, p, "LPUSH", q.key, "not json")
	if err := q.Push(ctx, item(1)); err != nil {
		t.Fatal(err)
	}
	rdo(t, p, "LPUSH", q.key, `{"run_id":0,"job":"x"}`)
	if err := q.Push(ctx, item(2)); err != nil {
		t.Fatal(err)
	}
	got, err := q.PopMany(ctx, 10)
	if err != nil || len(got) != 2 || got[0] != item(1) || got[1] != item(2) {
		t.Fatalf("PopMany = %+v, %v; want items 1 and 2", got, err)
	}
	if n := logs.count("skipping garbage queue entry"); n != 2 {
		t.Errorf("logged %d garbage entries, want 2", n)
	}
	// Nothing but garbage: PopMany waits for a real item.
	pops := popSignals(q)
	rdo(t, p, "LPUSH", q.key, "junk")
	res := popManyAsync(ctx, q, 10)
	recv(t, pops, "first BRPOP")
	recv(t, pops, "second BRPOP")
	if err := q.Push(ctx, item(3)); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, res, "PopMany"); r.err != nil || len(r.items) != 1 || r.items[0] != item(3) {
		t.Fatalf("PopMany after garbage = %+v, %v; want item 3", r.items, r.err)
	}
}

// TestQueuePopManyConsumers: consumers taking batches together take every
// item exactly once.
func TestQueuePopManyConsumers(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	q := newTestQueue(t, p, QueueOptions{Cluster: cluster, Block: 100 * time.Millisecond})
	storetest.PopManyExactlyOnce(t, q, 4, 2000)
}

func TestQueueRoutes(t *testing.T) {
	t.Parallel()
	p, cluster := newTestPool(t)
	storetest.QueueRoutes(t, newTestQueue(t, p, QueueOptions{Cluster: cluster}))
}
