// Package jobs is tock's job model: what a job is, when it fires and what
// happened when it ran.
//
//   - Config loading and validation: [LoadFile] and [Parse] read the YAML
//     config (DESIGN §4) through yaml.v3 nodes, merge the defaults block into
//     every job and report every problem at once as a [*ConfigError] whose
//     entries name file, line and field path
//     (tock.yaml:14: jobs[2].schedule: ...). Each [Job] carries a [Job.Digest]
//     over everything that affects execution, so a worker runs only what its
//     own copy of the file defines (I7); [Config.Digest] lets replicas compare
//     whole configs. Alert settings (alert_late, alert_failures) and the
//     notify block are read here but acted on by the leader (package
//     scheduler); they are outside job digests and inside the config digest.
//   - Schedules: [ParseSchedule] wraps robfig/cron/v3's parser (5 fields,
//     6 with leading seconds, descriptors, @every) and evaluates specs on the
//     job's wall clock with Vixie-cron daylight saving semantics; [Job.Next]
//     returns fire times in UTC.
//   - Run and attempt states ([Run], [Attempt], [RunStatus], [Trigger]) and
//     retry [Backoff].
//   - Fencing: each attempt's fencing token ([Fence]: leader epoch, run,
//     attempt) and the run's [IdempotencyKey], which package executor
//     hands to the job as environment variables or HTTP headers.
//
// The package does no I/O besides reading the config file: no storage, no
// network, no processes (executors live in package executor), no goroutines
// that outlive a call. It imports only the standard library, robfig/cron/v3
// and yaml.v3, so every other package can depend on it.
package jobs
