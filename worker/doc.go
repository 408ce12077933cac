// Package worker executes queued runs. A Pool takes doorbells from the
// Queue while it has a free slot in its channel semaphore of --workers slots
// (and the job's own max_concurrency semaphore), claims the run in the store
// by compare-and-set (I4) only if its own config has the run's job and digest
// (I7), runs the job with the executor from package jobs, heartbeats the
// attempt lease (I5) and records the result in one transaction (I6).
// Claims and results go to the store in batches: the pop loop takes as many
// doorbells as it has free slots (up to ClaimBatch) and claims them with one
// ClaimMany, and one finisher records whatever results are waiting (up to
// FinishBatch) with one FinishMany, falling back to one Finish per result,
// retried, when a batch fails as a whole.
// Attempts of http jobs pass a circuit breaker per target host
// (breaker.go, sony/gobreaker), so that a dead endpoint fails its runs
// fast instead of holding slots for whole timeouts.
//
// It never decides what to run or when; that is package scheduler.
package worker
