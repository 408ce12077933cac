package worker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// finishReq is an attempt's result on its way to the store, and where the
// outcome goes back.
type finishReq struct {
	params storage.FinishParams
	done   chan storage.FinishResult // buffered: the finisher never waits
}

// record hands an attempt's result to the finisher and waits until it is
// recorded or given up on.
func (p *Pool) record(fp storage.FinishParams) (jobs.Run, error) {
	req := finishReq{params: fp, done: make(chan storage.FinishResult, 1)}
	p.finishReqs <- req
	res := <-req.done
	return res.Run, res.Err
}

// runFinisher records results in batches: it waits for one, takes every
// other result already waiting (up to FinishBatch) and writes them in one
// transaction. Results that arrive meanwhile make up the next batch, so
// the batch grows with the load without any added delay. It returns when
// finishReqs is closed and every fallback retry ended.
func (p *Pool) runFinisher() {
	defer p.fallbacks.Wait()
	batch := make([]finishReq, 0, p.opts.FinishBatch)
	for req := range p.finishReqs {
		batch = append(batch[:0], req)
	more:
		for len(batch) < p.opts.FinishBatch {
			select {
			case r, ok := <-p.finishReqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		p.finishBatch(batch)
	}
}

// finishBatch records batch with one FinishMany and answers each request.
// If the whole batch fails (store unreachable, a statement it refuses),
// each result falls back to finish, which retries it alone with backoff,
// so that no result is lost and one bad result cannot sink the others.
func (p *Pool) finishBatch(batch []finishReq) {
	params := make([]storage.FinishParams, len(batch))
	for i, r := range batch {
		params[i] = r.params
	}
	res, err := storecall.Do(context.Background(), p.opts.StoreTimeout, func(ctx context.Context) ([]storage.FinishResult, error) {
		return p.opts.Store.FinishMany(ctx, params)
	})
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("store returned %d results for %d attempts", len(res), len(batch))
	}
	if err != nil {
		p.storeError("finish", err)
		p.log.Warn("recording results; retrying one by one", slog.Int("attempts", len(batch)), slog.Any("error", err))
		for _, r := range batch {
			p.fallbacks.Add(1)
			go func() {
				defer p.fallbacks.Done()
				run, err := p.finish(r.params)
				r.done <- storage.FinishResult{Run: run, Err: err}
			}()
		}
		return
	}
	for i, r := range batch {
		r.done <- res[i]
	}
}
