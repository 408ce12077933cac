//go:build unix

package executor

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tock-sched/tock/internal/tockexec"
	"github.com/tock-sched/tock/jobs"
)

// execProcess runs argv (a command job's argv or /bin/sh -c script) under
// tock-exec, in a process group of its own.
func execProcess(ctx context.Context, j *jobs.Job, argv []string, opts Options) Result {
	fail := func(msg string) Result { return Result{Status: jobs.StatusFailed, Error: msg} }
	sup := opts.Supervisor
	if sup == nil {
		var err error
		if sup, err = DefaultSupervisor(); err != nil {
			return fail(err.Error())
		}
	}
	env := dedupEnv(processEnv(j, opts))

	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(fmt.Sprintf("creating output pipe: %v", err))
	}
	defer outR.Close()
	asked := time.Now()
	if res, ok := gate(opts, asked); !ok {
		outW.Close()
		return res
	}
	child, err := sup.Start(argv, env, outW)
	outW.Close() // from now on only the job holds it
	if err != nil {
		return Result{Status: jobs.StatusFailed, Error: err.Error(), Duration: time.Since(asked)}
	}
	defer child.Release()

	runCtx, cancel := attemptContext(ctx, j.Timeout)
	defer cancel()
	begin := time.Now()
	g := &procGroup{pgid: child.Pid, grace: opts.KillGrace, exited: child.Done()}

	out := opts.Output
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// The error is the pipe's EOF, or the deadline drainOutput sets.
		buf := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(buf)
		_, _ = io.CopyBuffer(out, outR, *buf)
	}()

	stop := false
	select {
	case <-g.exited:
	case <-runCtx.Done():
		select {
		case <-g.exited: // it ended on its own just as the context did
		default:
			stop = true
			g.terminate()
		}
	}
	if !stop && groupHasLiving(g.pgid) {
		// Leftovers of a job that ended on its own.
		g.terminate()
	}
	drainOutput(outR, copied)

	res := Result{Output: out.String(), OutputDropped: out.Dropped(), Duration: time.Since(begin)}
	st, lost := child.Status()
	switch {
	case stop:
		res.Status, res.Error = stopped(runCtx, j.Timeout)
		if lost == nil {
			res.ExitCode = intPtr(st.ExitCode())
		}
	case lost != nil:
		res.Status, res.Error = jobs.StatusFailed, lost.Error()
	default:
		res.ExitCode = intPtr(st.ExitCode())
		if st.Kind == tockexec.Exit && st.Code == 0 {
			res.Status = jobs.StatusSucceeded
		} else {
			res.Status, res.Error = jobs.StatusFailed, st.String()
		}
	}
	return res
}

// copyBuffers are the buffers output is read through: a burst of a
// thousand starts would otherwise allocate (and clear) a buffer each.
var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// dedupEnv keeps the last value of each variable, as exec.Cmd does: the
// job's env and tock's variables override the inherited ones.
func dedupEnv(env []string) []string {
	last := make(map[string]int, len(env))
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	out := make([]string, 0, len(last))
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if last[k] == i {
			out = append(out, kv)
		}
	}
	return out
}

// procGroup is a running job's process group; its leader is the job.
type procGroup struct {
	pgid   int
	grace  time.Duration
	exited <-chan struct{} // closed once the leader is reaped
}

// terminate sends SIGTERM to the group, waits up to the grace period for the
// leader to be reaped and the group to empty, then SIGKILLs what is left. It
// returns once the leader is reaped.
func (g *procGroup) terminate() {
	_ = syscall.Kill(-g.pgid, syscall.SIGTERM)
	grace := time.NewTimer(g.grace)
	defer grace.Stop()
	select {
	case <-g.exited:
	case <-grace.C:
		_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
		<-g.exited
		return
	}
	tick := time.NewTicker(groupPollInterval)
	defer tick.Stop()
	for groupHasLiving(g.pgid) {
		select {
		case <-grace.C:
			_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
			return
		case <-tick.C:
		}
	}
}

// drainOutput waits for the output copier to reach EOF, for at most
// outputDrainTimeout: a process outside the group may hold the pipe open.
func drainOutput(r *os.File, copied <-chan struct{}) {
	t := time.NewTimer(outputDrainTimeout)
	defer t.Stop()
	select {
	case <-copied:
		return
	case <-t.C:
	}
	if r.SetReadDeadline(time.Now()) != nil {
		// Not pollable: closing is the only way to end the read.
		r.Close()
	}
	<-copied
}
