// Package executor runs one attempt of a job: [Execute] takes a [jobs.Job]
// and [Options] and returns a [Result] whose Status is a [jobs.RunStatus].
// There are three executors: command (argv, no shell), shell (/bin/sh -c)
// and http.
//
// Each attempt is identified to the job by its fencing token ([jobs.Fence]:
// leader epoch, run, attempt) and the run's [jobs.IdempotencyKey], as
// environment variables or HTTP headers ([Options.Fence]); a caller's
// [Options.StartGate] can refuse the attempt at the last moment before
// anything is spawned or sent.
//
// # Process groups and the supervisor
//
// A command or shell job runs in a process group of its own, so stopping it
// stops everything it started (I8): a timeout or cancel sends SIGTERM to the
// whole group, then SIGKILL to the group after the kill grace if anything in
// it still lives. When the job's main process exits, whatever it left in the
// group is stopped the same way: a run owns its processes and none outlives
// it. Output is read from one pipe shared by stdout and stderr into a
// [CappedBuffer], so a chatty job costs tock only its output limit.
//
// A process group alone does not survive tock being killed with SIGKILL:
// nobody is left to signal it. So tock does not start jobs itself: each
// tock process runs one [Supervisor], the small program tock-exec
// (package internal/tockexec), connected by a socket. tock-exec starts each
// job as the leader of a new group and reports its pid and, once reaped,
// its exit status; when tock dies its socket reaches end of file and
// tock-exec SIGKILLs every group it started. A start costs a message and a
// fork, not a program's start-up: tock-exec is started once, on the first
// command or shell job, and again should it die. [FindSupervisor] says
// where it is looked for.
//
// Processes that leave the group (setsid) are beyond the group signals;
// their hold on the output pipe is cut after a short drain timeout.
//
// The package must not touch storage or the network beyond an http job's
// request, and leaves no goroutine running after Execute returns. It lives
// beside package jobs, not in it, so that the packages that only need the job
// model (storage above all) do not import os/exec and net/http.
package executor
