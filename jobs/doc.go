// Package jobs is tock's job model: what a job is, when it fires and what
// happened when it ran. Every other package imports it, so it is a leaf, as
// River's rivertype is.
//
//   - Config: a [Config] is a validated config file, its defaults block
//     ([Defaults]) merged into every [Job], with its history and notify
//     blocks ([HistoryConfig], [NotifyConfig]) and lookups ([Config.Job],
//     [Config.NextTimes]). Package jobfile builds one from the YAML file
//     (docs/design.md#configuration). Each Job carries a [Job.Digest] over everything that
//     affects execution, so a worker runs only what its own copy of the file
//     defines (I7); [Config.Digest] lets replicas compare whole configs.
//     Alert settings (alert_late, alert_failures) and the notify block are
//     acted on by the leader (package internal/alerting); they are outside job
//     digests and inside the config digest.
//   - Schedules: [ParseSchedule] wraps robfig/cron/v3's parser (5 fields,
//     6 with leading seconds, descriptors, @every) and evaluates specs on the
//     job's wall clock with Vixie-cron daylight saving semantics; [Job.Next]
//     returns fire times in UTC. [ParseDuration] reads durations as config
//     files and the command line write them (90s, 30d, 1d12h).
//   - Run and attempt states ([Run], [Attempt], [RunStatus], [Trigger]) and
//     retry [Backoff].
//   - Fencing: each attempt's fencing token ([Fence]: leader epoch, run,
//     attempt) and the run's [IdempotencyKey], which package executor
//     hands to the job as environment variables or HTTP headers.
//
// The package must not do I/O, start goroutines or know about storage. It
// imports the standard library's basics and robfig/cron/v3, nothing else:
// no yaml.v3 (the loader is package jobfile), no net/http, os/exec,
// os/signal or syscall (the executors are package executor), so that
// importing it for Run or Job costs storage nothing. leaf_test.go checks
// both jobs and storage.
package jobs
