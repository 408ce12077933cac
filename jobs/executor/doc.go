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
// # Process groups and the shim
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
// nobody is left to signal it. So tock does not start the job itself but a
// tiny shim (tock's own binary with TOCK_EXEC_SHIM=1, see [RunShimIfRequested])
// as the group leader, with Pdeathsig=SIGTERM. The shim starts the job in its
// group and waits. On SIGTERM it looks at its parent: still tock means the
// group is being stopped and the job got the signal too, so it keeps waiting;
// a new parent means tock died, and it SIGKILLs the group at once. The shim
// exits with the job's exit code (128+N for signal N) and reports the exact
// outcome on a status pipe, so Result.ExitCode is the job's, not the shim's.
//
// Pdeathsig fires when the OS thread that forked the shim exits. Go retires a
// thread only when a goroutine exits while locked to it; Execute never locks
// a thread, and the parent check makes such a stray SIGTERM harmless anyway.
// Processes that leave the group (setsid) are beyond the group signals; their
// hold on the output pipe is cut after a short drain timeout.
//
// A binary that executes jobs calls [RunShimIfRequested] first thing in main,
// and so does TestMain of every package whose tests execute jobs.
//
// The package must not touch storage or the network beyond an http job's
// request, and leaves no goroutine running after Execute returns. It lives
// beside package jobs, not in it, so that the packages that only need the job
// model (storage above all) do not import os/exec and net/http.
package executor
