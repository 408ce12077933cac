package executor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tock-sched/tock/jobs"
)

// Executor defaults.
const (
	// DefaultKillGrace is how long a stopped job has between SIGTERM and
	// SIGKILL.
	DefaultKillGrace = 5 * time.Second
	// DefaultOutputLimit is how many bytes of output an attempt keeps.
	DefaultOutputLimit = 64 << 10
)

const (
	// outputDrainTimeout bounds how long Execute reads the output pipe after
	// the job's process group is gone, for processes outside the group that
	// still hold it open.
	outputDrainTimeout = 500 * time.Millisecond
	// groupPollInterval is how often Execute looks whether a stopped process
	// group still has members, once its leader has exited.
	groupPollInterval = 20 * time.Millisecond
)

// errAttemptTimedOut is the cancel cause of an attempt that ran out of time.
var errAttemptTimedOut = errors.New("jobs: attempt timed out")

// Options tunes Execute.
type Options struct {
	// KillGrace is the time between SIGTERM and SIGKILL when a job is
	// stopped. Default DefaultKillGrace.
	KillGrace time.Duration
	// OutputLimit is how many bytes of output are kept, half from the start
	// and half from the end. Default DefaultOutputLimit.
	OutputLimit int
	// Output, when set, is the buffer the attempt's output goes to (a
	// command's stdout and stderr, an http job's response body) instead of
	// one of the executor's own, so that the caller can read it while the
	// attempt runs (CappedBuffer.Snapshot); its own limit applies, not
	// OutputLimit. Result.Output is rendered from it. Default none.
	Output *CappedBuffer
	// Env is extra "K=V" entries for command and shell jobs, applied after
	// the job's own env and before the variables Fence and ScheduledAt set.
	// Default none.
	Env []string
	// HTTPClient sends http jobs' requests. Default a client without a
	// global timeout (the job's timeout applies).
	HTTPClient *http.Client
	// Params are the run's parameters (jobs.Job.ParamsForRun). Command and
	// shell jobs get each as the variable jobs.EnvName(name)
	// (TOCK_PARAM_ and the name in upper case), after the job's env and
	// Env and before the attempt's variables: a parameter sets only its
	// own TOCK_PARAM_ variable, never another. Http jobs get them in the
	// request: as a JSON object body (Content-Type application/json) when
	// the method is POST, PUT or PATCH and the job configures no body,
	// else as URL query parameters (replacing those of the same name in
	// the configured URL). None changes nothing.
	Params map[string]string
	// Supervisor starts command and shell jobs. Default
	// DefaultSupervisor(): the process's shared tock-exec.
	Supervisor *Supervisor

	// Fence is the fencing token of the attempt (jobs.Run.Fence of the claimed
	// run). When it is not zero, the executor identifies the attempt to the
	// job, the same way for every executor: command and shell jobs get the
	// environment variables below, after the job's env and Env (so neither
	// can override them); http jobs get the headers, set after the job's
	// headers (tock's win over a job-configured header of the same name).
	//
	//	TOCK_JOB              X-Tock-Job           the job's name
	//	TOCK_RUN_ID           X-Tock-Run-Id        Fence.RunID
	//	TOCK_ATTEMPT          X-Tock-Attempt       Fence.Attempt, from 1
	//	TOCK_FENCE            X-Tock-Fence         Fence.String(): epoch.run.attempt
	//	TOCK_IDEMPOTENCY_KEY  Idempotency-Key      jobs.IdempotencyKey(Fence.RunID)
	//	TOCK_SCHEDULED_AT     X-Tock-Scheduled-At  ScheduledAt, RFC 3339 UTC
	//
	// The idempotency key is the same for every attempt of a run; the fence
	// tells a later attempt from an earlier one (see jobs.Fence). Zero sends
	// none of them (TOCK_SCHEDULED_AT aside, which follows ScheduledAt).
	Fence jobs.Fence
	// ScheduledAt is the run's scheduled time, sent as TOCK_SCHEDULED_AT and
	// X-Tock-Scheduled-At (RFC 3339, UTC, whole seconds) when not zero.
	ScheduledAt time.Time
	// Traceparent is the W3C traceparent of the attempt's span when tock
	// traces (OTEL_* variables): command and shell jobs get it as
	// TRACEPARENT, http jobs as the traceparent header, set like the
	// variables above (after the job's own). "" sends neither.
	Traceparent string
	// Shard and ShardTotal place a broadcast shard (jobs.Run.Shard,
	// jobs.Run.ShardTotal): when ShardTotal > 0 the job gets
	// TOCK_SHARD_INDEX (0-based) and TOCK_SHARD_TOTAL, an http job the
	// headers X-Tock-Shard-Index and X-Tock-Shard-Total.
	Shard, ShardTotal int
	// StartGate, when set, is called once, as late as possible before the
	// attempt would start: after the command, its environment and pipes or
	// the request are built, right before the job's process is spawned or
	// the request is sent. If it returns an error the attempt does not
	// start: Execute returns jobs.StatusCanceled with Error "not started: "
	// + the error's text and NotStarted set, having started no job process
	// and sent nothing. It runs on Execute's goroutine and may block, e.g.
	// until the attempt is due; a command or shell job is then started by
	// tock-exec at once (a message and a fork). It is not called when
	// Execute fails before that point.
	StartGate func() error
}

// attemptVar is one fact about the attempt, as an environment variable and
// as an HTTP header.
type attemptVar struct{ env, header, value string }

// attemptVars are the variables that identify the attempt to the job (see
// Options.Fence), in a fixed order.
func attemptVars(j *jobs.Job, opts Options) []attemptVar {
	var vs []attemptVar
	if f := opts.Fence; !f.IsZero() {
		if j.Name != "" {
			vs = append(vs, attemptVar{"TOCK_JOB", "X-Tock-Job", j.Name})
		}
		vs = append(vs,
			attemptVar{"TOCK_RUN_ID", "X-Tock-Run-Id", strconv.FormatInt(f.RunID, 10)},
			attemptVar{"TOCK_ATTEMPT", "X-Tock-Attempt", strconv.Itoa(f.Attempt)},
			attemptVar{"TOCK_FENCE", "X-Tock-Fence", f.String()},
			attemptVar{"TOCK_IDEMPOTENCY_KEY", "Idempotency-Key", jobs.IdempotencyKey(f.RunID)},
		)
	}
	if !opts.ScheduledAt.IsZero() {
		vs = append(vs, attemptVar{"TOCK_SCHEDULED_AT", "X-Tock-Scheduled-At", opts.ScheduledAt.UTC().Format(time.RFC3339)})
	}
	if opts.Traceparent != "" {
		vs = append(vs, attemptVar{"TRACEPARENT", "traceparent", opts.Traceparent})
	}
	if opts.ShardTotal > 0 {
		vs = append(vs,
			attemptVar{"TOCK_SHARD_INDEX", "X-Tock-Shard-Index", strconv.Itoa(opts.Shard)},
			attemptVar{"TOCK_SHARD_TOTAL", "X-Tock-Shard-Total", strconv.Itoa(opts.ShardTotal)},
		)
	}
	return vs
}

// notStartedPrefix starts the Error of an attempt its StartGate refused.
const notStartedPrefix = "not started: "

// gate asks opts.StartGate whether the attempt may start; ok is false, with
// the Result to return, when it may not.
func gate(opts Options, begin time.Time) (Result, bool) {
	if opts.StartGate == nil {
		return Result{}, true
	}
	if err := opts.StartGate(); err != nil {
		return Result{Status: jobs.StatusCanceled, Error: notStartedPrefix + err.Error(), NotStarted: true, Duration: time.Since(begin)}, false
	}
	return Result{}, true
}

func (o Options) withDefaults() Options {
	if o.KillGrace <= 0 {
		o.KillGrace = DefaultKillGrace
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = DefaultOutputLimit
	}
	if o.HTTPClient == nil {
		o.HTTPClient = defaultHTTPClient
	}
	if o.Output == nil {
		o.Output = NewCappedBuffer(o.OutputLimit)
	}
	return o
}

// Result is what one attempt produced.
type Result struct {
	// Status is jobs.StatusSucceeded, jobs.StatusFailed, jobs.StatusTimedOut or
	// jobs.StatusCanceled.
	Status jobs.RunStatus
	// ExitCode is the job's exit code (128+N when signal N killed it), or
	// the HTTP status code of an http job; nil when there is none (the job
	// did not start, the request got no response).
	ExitCode *int
	// Error says why the attempt did not succeed ("exit status 3",
	// "signal: killed", "timed out after 2s", "canceled: <cause>",
	// "http 503 not in success codes [200 204]", "starting …: …",
	// "not started: …" when StartGate refused the attempt).
	Error string
	// Output is stdout and stderr interleaved (command, shell) or the
	// response body (http), capped by Options.OutputLimit; see
	// CappedBuffer.String. It may hold invalid UTF-8 if the job wrote binary.
	Output string
	// OutputDropped counts the bytes cut from the middle of Output.
	OutputDropped int64
	// Duration is how long the attempt took, stopping included.
	Duration time.Duration
	// NotStarted is true when Options.StartGate refused the attempt:
	// no process was spawned and no request was sent (Status is
	// jobs.StatusCanceled, Error "not started: …"). Other failures before the
	// start (a canceled ctx, a request that cannot be built) leave it
	// false; their Status and Error say what happened.
	NotStarted bool
}

// Execute runs one attempt of j and returns when it is over: for command and
// shell jobs, once the process group is gone and the output pipe is closed.
// A positive j.Timeout bounds the attempt (jobs.StatusTimedOut); cancelling ctx
// stops it (jobs.StatusCanceled, with context.Cause(ctx) in Error). Execute
// reports every failure in the Result; it never panics on a bad job.
func Execute(ctx context.Context, j *jobs.Job, opts Options) Result {
	opts = opts.withDefaults()
	if j == nil {
		return Result{Status: jobs.StatusFailed, Error: "jobs: Execute: nil job"}
	}
	if j.Settings == nil {
		// A job built by hand rather than loaded has no settings: zero ones.
		c := *j
		c.Settings = &jobs.Settings{}
		j = &c
	}
	if ctx.Err() != nil {
		return Result{Status: jobs.StatusCanceled, Error: canceledText(ctx)}
	}
	switch j.ExecutorKind() {
	case "command":
		return execProcess(ctx, j, j.Command, opts)
	case "shell":
		return execProcess(ctx, j, []string{"/bin/sh", "-c", j.Shell}, opts)
	case "http":
		return execHTTP(ctx, j, opts)
	}
	return Result{Status: jobs.StatusFailed, Error: fmt.Sprintf("jobs: job %q has no executor", j.Name)}
}

// attemptContext bounds an attempt by the job's timeout, if it has one.
func attemptContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeoutCause(ctx, timeout, errAttemptTimedOut)
	}
	return context.WithCancel(ctx)
}

// stopped returns the status and error of an attempt whose context ended.
func stopped(runCtx context.Context, timeout time.Duration) (jobs.RunStatus, string) {
	if errors.Is(context.Cause(runCtx), errAttemptTimedOut) {
		return jobs.StatusTimedOut, fmt.Sprintf("timed out after %s", timeout)
	}
	return jobs.StatusCanceled, canceledText(runCtx)
}

func canceledText(ctx context.Context) string {
	return "canceled: " + context.Cause(ctx).Error()
}

// processEnv is tock's environment, then the job's env (sorted, so the
// order is stable), then the extra entries, then the variables that
// identify the attempt (attemptVars); a later entry for a key wins.
func processEnv(j *jobs.Job, opts Options) []string {
	env := os.Environ()
	keys := make([]string, 0, len(j.Env))
	for k := range j.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+j.Env[k])
	}
	env = append(env, opts.Env...)
	env = append(env, paramEnv(opts.Params)...)
	for _, v := range attemptVars(j, opts) {
		env = append(env, v.env+"="+v.value)
	}
	return env
}

func intPtr(n int) *int { return &n }

// paramEnv is the TOCK_PARAM_ variables of params, sorted. A name that
// is not a parameter name (it cannot be: the config and the leader check
// them) is left out rather than allowed to form another variable.
func paramEnv(params map[string]string) []string {
	if len(params) == 0 {
		return nil
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		if jobs.CheckParamName(k) == "" && !strings.ContainsRune(params[k], 0) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = jobs.EnvName(k) + "=" + params[k]
	}
	return out
}
