//go:build unix

package executor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/tock-sched/tock/jobs"
)

// execProcess runs argv (a command job's argv or /bin/sh -c script) through
// the shim, in a process group of its own.
func execProcess(ctx context.Context, j *jobs.Job, argv []string, opts Options) Result {
	fail := func(msg string) Result { return Result{Status: jobs.StatusFailed, Error: msg} }
	if os.Getenv(ShimEnv) == "1" {
		// This process was started as a shim but its main did not call
		// RunShimIfRequested; starting another would recurse.
		return fail("jobs: this process was started as an exec shim (" + ShimEnv + "=1) but did not call executor.RunShimIfRequested")
	}
	shim := opts.Shim
	if shim == nil {
		var err error
		if shim, err = ShimCommand(); err != nil {
			return fail(err.Error())
		}
	}
	full := append(append(make([]string, 0, len(shim)+len(argv)), shim...), argv...)
	env := processEnv(j, opts)
	if len(shim) > 0 {
		env = append(env, ShimEnv+"=1", shimParentEnv+"="+strconv.Itoa(os.Getpid()))
	}

	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(fmt.Sprintf("creating output pipe: %v", err))
	}
	defer outR.Close()
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.SysProcAttr = groupSysProcAttr(len(shim) > 0)
	var reportR *os.File
	if len(shim) > 0 {
		var reportW *os.File
		if reportR, reportW, err = os.Pipe(); err != nil {
			outW.Close()
			return fail(fmt.Sprintf("creating shim report pipe: %v", err))
		}
		defer reportR.Close()
		cmd.ExtraFiles = []*os.File{reportW}
	}

	if len(shim) > 0 && opts.StartGate != nil {
		if res, ok := prestart(cmd, full[0], outW, opts); !ok {
			return res
		}
	} else {
		asked := time.Now()
		if res, ok := gate(opts, asked); !ok {
			outW.Close()
			if cmd.ExtraFiles != nil {
				cmd.ExtraFiles[0].Close()
			}
			return res
		}
		err = cmd.Start()
		outW.Close()
		if cmd.ExtraFiles != nil {
			cmd.ExtraFiles[0].Close() // from now on only the shim holds it
		}
		if err != nil {
			return Result{Status: jobs.StatusFailed, Error: startErrorText(full[0], err), Duration: time.Since(asked)}
		}
	}
	runCtx, cancel := attemptContext(ctx, j.Timeout)
	defer cancel()
	begin := time.Now()
	g := &procGroup{pgid: cmd.Process.Pid, grace: opts.KillGrace, exited: make(chan struct{})}

	out := NewCappedBuffer(opts.OutputLimit)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// The error is the pipe's EOF, or the deadline drainOutput sets.
		_, _ = io.CopyBuffer(out, outR, make([]byte, 64<<10))
	}()
	var waitErr error
	go func() {
		defer close(g.exited)
		// A non-zero exit is read from cmd.ProcessState, not from waitErr.
		waitErr = cmd.Wait()
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

	var report []byte
	if reportR != nil {
		report = readBounded(reportR, shimReportTimeout)
	}
	res := Result{Output: out.String(), OutputDropped: out.Dropped(), Duration: time.Since(begin)}
	code, why, ran := exitOf(cmd.ProcessState, waitErr, report)
	res.ExitCode = code
	switch {
	case stop:
		res.Status, res.Error = stopped(runCtx, j.Timeout)
	case !ran:
		res.Status, res.Error = jobs.StatusFailed, why
	case *code == 0:
		res.Status = jobs.StatusSucceeded
	default:
		res.Status, res.Error = jobs.StatusFailed, why
	}
	return res
}

// prestart starts the shim ahead of the job (shimWaitEnv), then asks
// StartGate, which may wait until the attempt is due: the shim's start-up
// (a whole tock binary's initialisation) is then off the path from the tick
// to the job's start. On a go-ahead it writes one byte to the shim's go
// pipe and the shim starts the job at once; on a refusal it closes the pipe
// and the shim exits without starting it.
func prestart(cmd *exec.Cmd, name string, outW *os.File, opts Options) (Result, bool) {
	goR, goW, err := os.Pipe()
	if err != nil {
		outW.Close()
		cmd.ExtraFiles[0].Close()
		return Result{Status: jobs.StatusFailed, Error: fmt.Sprintf("creating shim go pipe: %v", err)}, false
	}
	defer goW.Close()
	cmd.ExtraFiles = append(cmd.ExtraFiles, goR)
	cmd.Env = append(cmd.Env, shimWaitEnv+"=1")
	started := time.Now()
	err = cmd.Start()
	outW.Close()
	for _, f := range cmd.ExtraFiles {
		f.Close() // from now on only the shim holds them
	}
	if err != nil {
		return Result{Status: jobs.StatusFailed, Error: startErrorText(name, err), Duration: time.Since(started)}, false
	}
	if res, ok := gate(opts, time.Now()); !ok {
		goW.Close()
		_ = cmd.Wait()
		return res, false
	}
	if _, err := goW.Write([]byte{1}); err != nil {
		// The shim died while it waited (killed from outside): it reports
		// no status, and Execute records the exit it sees.
		return Result{}, true
	}
	return Result{}, true
}

// exitOf reads how the job ended from the shim's report or, without one, from
// the leader's own wait status. ran is false when the job could not start
// or its status is unknown.
func exitOf(ps *os.ProcessState, waitErr error, report []byte) (code *int, why string, ran bool) {
	st, ok := parseShimStatus(report)
	if !ok {
		if ps == nil {
			return nil, fmt.Sprintf("waiting for the job: %v", waitErr), false
		}
		st = exitStatusOf(ps)
	}
	switch st.kind {
	case shimError:
		return nil, st.reason, false
	case shimSignal:
		return intPtr(128 + st.code), "signal: " + syscall.Signal(st.code).String(), true
	}
	return intPtr(st.code), "exit status " + strconv.Itoa(st.code), true
}

// procGroup is a running job's process group; its leader is the shim.
type procGroup struct {
	pgid   int
	grace  time.Duration
	exited chan struct{} // closed once the leader is reaped
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

// readBounded reads a short message until EOF or the timeout.
func readBounded(r *os.File, timeout time.Duration) []byte {
	_ = r.SetReadDeadline(time.Now().Add(timeout))
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	return b
}
