// Package alerting watches the jobs' alerts (alert_late, alert_failures)
// while this replica leads, and announces each change in the log, to an
// Events hook and, when the config has a notify webhook, as a JSON POST
// delivered in order from a bounded queue with retries and backoff.
//
// A Watcher runs as the scheduler's term hook (scheduler.Options.Term): its
// alert state lives for one leadership term, so a new leader announces
// again every alert that still fires.
//
// It only reads the store (runs, through storage.Store): it never
// dispatches, writes or fences, and it does not import the scheduler.
package alerting
