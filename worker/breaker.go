package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

// Defaults of BreakerOptions.
const (
	DefaultBreakerFailures    = 5
	DefaultBreakerOpenTimeout = 30 * time.Second
)

// ExecFunc runs one attempt of a job, like executor.Execute.
type ExecFunc = func(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result

// BreakerState is the state of one target's circuit breaker. Its value is
// the one the tock_http_breaker_state metric exports.
type BreakerState int

// Breaker states.
const (
	// BreakerClosed lets every attempt through.
	BreakerClosed BreakerState = iota
	// BreakerHalfOpen lets one probe attempt through; the others fail fast.
	BreakerHalfOpen
	// BreakerOpen fails every attempt fast until the open timeout passes.
	BreakerOpen
)

// String returns "closed", "half-open" or "open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// BreakerOptions configure the per-target circuit breakers of http jobs.
type BreakerOptions struct {
	// Failures is how many attempts in a row must fail against one target
	// to open its breaker. Default 5; negative turns the breakers off.
	Failures int
	// OpenTimeout is how long an open breaker fails attempts fast before it
	// lets one probe through. Default 30s.
	OpenTimeout time.Duration
	// Changed, when set, is called with a target's new state when its
	// breaker is created (closed) and on every change. It runs under the
	// breaker's lock, so it must be quick and must not call back into
	// Breakers.
	Changed func(target string, state BreakerState)
}

// Breakers keeps one circuit breaker per HTTP target (scheme, host and
// port) so that a dead endpoint costs its jobs a fast failure instead of a
// worker slot held for a whole timeout.
//
// A target's attempt counts as a failure when the request got no response
// (connection error, reset, TLS error), timed out, or got a 5xx: the host
// is unwell. A 4xx, or any other status outside the job's success codes,
// counts as a success: the host answered, and the fault is the job's
// request. Canceled attempts (cancel requests, shutdown) count as neither.
// After Failures failures in a row the breaker opens: attempts fail at
// once with "circuit open for <target>: last error: …" until OpenTimeout
// passes; then one probe goes through (half-open, the others still fail
// fast), and its success closes the breaker while its failure opens it
// again.
//
// gobreaker reads the wall clock itself; the open timeout is therefore
// real time, not the pool's Clock. A breaker turns half-open when the next
// attempt or States finds its timeout passed.
type Breakers struct {
	opts BreakerOptions
	mu   sync.Mutex
	m    map[string]*breaker
}

type breaker struct {
	cb *gobreaker.TwoStepCircuitBreaker[struct{}]

	mu      sync.Mutex
	lastErr string
}

// Outcomes of an attempt as a breaker counts them.
var (
	errHostFailure = errors.New("worker: http target failed")
	errNotCounted  = errors.New("worker: attempt not counted")
)

// NewBreakers returns the breakers; targets get theirs on first use.
func NewBreakers(o BreakerOptions) *Breakers {
	if o.Failures == 0 {
		o.Failures = DefaultBreakerFailures
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = DefaultBreakerOpenTimeout
	}
	return &Breakers{opts: o, m: map[string]*breaker{}}
}

// Wrap returns exec guarded by the breakers: http jobs whose URL names a
// target go through that target's breaker, other jobs straight to exec.
// With the breakers off it returns exec.
func (b *Breakers) Wrap(exec ExecFunc) ExecFunc {
	if b.opts.Failures < 0 {
		return exec
	}
	return func(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result {
		if j == nil || j.HTTP == nil {
			return exec(ctx, j, o)
		}
		target, ok := Target(j.HTTP.URL)
		if !ok {
			return exec(ctx, j, o)
		}
		return b.get(target).run(ctx, target, j, o, exec)
	}
}

// States returns the state of every target's breaker, by target, as
// BreakerState.String gives it.
func (b *Breakers) States() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]string, len(b.m))
	for target, br := range b.m {
		out[target] = fromGobreaker(br.cb.State()).String()
	}
	return out
}

func (b *Breakers) get(target string) *breaker {
	b.mu.Lock()
	defer b.mu.Unlock()
	if br := b.m[target]; br != nil {
		return br
	}
	failures := uint32(b.opts.Failures)
	br := &breaker{cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        target,
		MaxRequests: 1,
		Timeout:     b.opts.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return errors.Is(err, errNotCounted) },
		OnStateChange: func(name string, _, to gobreaker.State) {
			if b.opts.Changed != nil {
				b.opts.Changed(name, fromGobreaker(to))
			}
		},
	})}
	b.m[target] = br
	if b.opts.Changed != nil {
		b.opts.Changed(target, BreakerClosed)
	}
	return br
}

// run executes one attempt through the breaker, or fails it fast.
func (br *breaker) run(ctx context.Context, target string, j *jobs.Job, o executor.Options, exec ExecFunc) executor.Result {
	done, err := br.cb.Allow()
	if err != nil {
		br.mu.Lock()
		last := br.lastErr
		br.mu.Unlock()
		msg := "circuit open for " + target
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			msg += " (half-open: a probe is in flight)"
		}
		if last != "" {
			msg += ": last error: " + last
		}
		return executor.Result{Status: jobs.StatusFailed, Error: msg}
	}
	res := exec(ctx, j, o)
	outcome := classify(res)
	if errors.Is(outcome, errHostFailure) {
		br.mu.Lock()
		br.lastErr = res.Error
		br.mu.Unlock()
	}
	done(outcome)
	return res
}

// classify says how an attempt's result counts against its target: nil
// (the host answered), errHostFailure or errNotCounted.
func classify(res executor.Result) error {
	switch res.Status {
	case jobs.StatusSucceeded:
		return nil
	case jobs.StatusTimedOut:
		return errHostFailure
	case jobs.StatusFailed:
		if res.ExitCode == nil || *res.ExitCode >= 500 {
			return errHostFailure // no response, or a server error
		}
		return nil // a 4xx or another answer: the request's fault
	}
	return errNotCounted // canceled
}

// Target returns the breaker key of an http job's URL: lower-case scheme
// and host with the port made explicit ("https://api.example.com:443").
// User info, path and query are left out. It reports false for a URL
// without a host.
func Target(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", false
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	if port == "" {
		return scheme + "://" + host, true
	}
	return scheme + "://" + net.JoinHostPort(host, port), true
}

func fromGobreaker(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	case gobreaker.StateOpen:
		return BreakerOpen
	}
	return BreakerClosed
}
