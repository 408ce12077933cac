// Package scheduler decides what runs when. It holds the leader lease
// (Elector), keeps a min-heap of every job's next fire time on an injected
// clock, dispatches due ticks into the store before enqueueing them (I1),
// fences every dispatch with the leader epoch (I2), catches up ticks no
// leader dispatched according to each job's misfire policy, and reaps
// expired attempt leases (I5).
//
// It talks to the outside only through the storage interfaces; it never runs
// a job (that is package worker) and never imports a driver.
package scheduler
