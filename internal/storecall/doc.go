// Package storecall gives each call to a storage interface its own timeout,
// so that the caller's code reads as the store call it makes:
//
//	runs, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
//		return s.opts.Store.DueQueued(ctx, now, before, limit)
//	})
//	states, err := storecall.Do(ctx, s.opts.StoreTimeout, s.opts.Store.JobStates)
//
// It bounds calls and nothing else: it does not retry, log or count
// failures, which stay with each caller, who knows what a failure means.
package storecall
