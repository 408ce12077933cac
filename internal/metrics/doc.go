// Package metrics is tock's Prometheus instrumentation: its own registry
// (never the global one) with the Go and process collectors, the counters and
// histograms fed by the scheduler's and the worker pool's Events hooks, and
// gauges read from the live replica when scraped.
//
// It must not change behaviour: it only observes. Every hook is cheap and
// never blocks; gauges that need I/O (queue depth) bound it with a short
// timeout. Labels are bounded: job names come from the config, statuses and
// kinds from fixed sets.
package metrics
