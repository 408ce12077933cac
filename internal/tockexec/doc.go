// Package tockexec is tock-exec, the supervisor that starts tock's command
// and shell jobs: its protocol with package jobs/executor and its main
// ([Main]).
//
// Each tock process starts one tock-exec, in a process group of its own,
// with Pdeathsig=SIGTERM, connected to it by a SOCK_SEQPACKET socket pair
// (its descriptor [SocketFD]). tock sends one [Request] per job start, the
// job's output pipe attached as SCM_RIGHTS; tock-exec starts the job as the
// leader of a new process group (with Pdeathsig=SIGKILL), answers with its
// pid, and reports its exit status when it has reaped it ([Reply]). tock
// signals the job's group itself (timeout, cancel, leftovers) and sends
// "release" once it is done with a group.
//
// When tock dies, however it dies, the socket reaches end of file (and
// Pdeathsig sends SIGTERM): tock-exec SIGKILLs every process group it
// started and not yet released, then exits, so nothing a job started
// outlives tock, even after kill -9.
//
// One long-lived supervisor instead of one per start: a start costs tock a
// message and tock-exec one fork and exec, not a whole program's start-up.
// The package imports the standard library only.
package tockexec
