// Package jobs is tock's job model: what a job is, when it fires, what
// happened when it ran, and how it is executed.
//
//   - Config loading and validation: [LoadFile] and [Parse] read the YAML
//     config (docs/design.md#configuration) through yaml.v3 nodes, merge
//     the defaults block into every job and report every problem at once as
//     a [*ConfigError] whose entries name file, line and field path
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
//   - Executors: command (argv, no shell), shell and http. Each attempt is
//     identified to the job by its fencing token ([Fence]: leader epoch,
//     run, attempt) and the run's [IdempotencyKey], as environment
//     variables or HTTP headers ([ExecOptions.Fence]); a caller's
//     [ExecOptions.StartGate] can refuse the attempt at the last moment
//     before anything is spawned or sent.
//
// The package does no I/O besides reading the config file and running
// executors: no storage, no network other than an http executor's request,
// no goroutines that outlive a call. It imports only the standard library,
// robfig/cron/v3 and yaml.v3, so every other package can depend on it.
package jobs
