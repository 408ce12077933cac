// Package replica assembles one tock replica — one `tock run` process — from
// its parts — store, queue, lease, scheduler with its alert watcher, worker
// pool, config reloader — according to the command line, and runs it until
// a signal. The replica's record in the store and in the cluster view is a
// node (storage.Node); this package is the process, not the record. It holds
// wiring only; behaviour lives in scheduler, worker, storage, jobs and
// internal/alerting.
package replica
