// Package memory implements the in-process Lease and Queue of the embedded
// default (one process, SQLite store): the lease always wins and the queue
// is a bounded channel.
//
// It is for a single process only: it must not be used by replicas that
// share a store, because every one of them would lead. It keeps no run
// state; the queue drops items when full rather than block the leader,
// since the reaper re-enqueues queued runs from the store (I4).
package memory
