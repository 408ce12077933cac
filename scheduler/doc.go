// Package scheduler decides what runs when. It holds the leader lease
// (Elector), keeps a min-heap of every job's next fire time on an injected
// clock, dispatches due ticks into the store before enqueueing them (I1),
// fences every dispatch with the leader epoch (I2), catches up ticks no
// leader dispatched according to each job's misfire policy, reaps
// expired attempt leases (I5) and prunes the history the config's
// history block no longer keeps. Other leader-only work (the jobs' alerts,
// internal/alerting) runs alongside each term through Options.Term.
//
// It talks to the outside only through the storage interfaces; it never runs
// a job (that is package worker) and never imports a driver.
package scheduler
