// Package node assembles one tock replica from its parts — store, queue,
// lease, scheduler with its alert watcher, worker pool, config reloader —
// according to the command line, and runs it until a signal. It holds
// wiring only; behaviour lives in scheduler, worker, storage, jobs and
// internal/alerting.
package node
