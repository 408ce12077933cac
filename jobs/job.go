package jobs

import (
	"time"

	"github.com/robfig/cron/v3"
)

// ConcurrencyPolicy says what happens when a job fires while a run of it is
// still queued or running.
type ConcurrencyPolicy string

// Concurrency policies.
const (
	ConcurrencyAllow   ConcurrencyPolicy = "allow"
	ConcurrencyForbid  ConcurrencyPolicy = "forbid"
	ConcurrencyReplace ConcurrencyPolicy = "replace"
)

// MisfirePolicy says what happens to ticks that passed while no leader
// dispatched (downtime, failover).
type MisfirePolicy string

// Misfire policies.
const (
	MisfireSkip    MisfirePolicy = "skip"
	MisfireRunOnce MisfirePolicy = "run_once"
	MisfireRunAll  MisfirePolicy = "run_all"
)

// HTTPSpec is the http executor's request.
type HTTPSpec struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// Success lists status codes that count as success; empty means 2xx.
	Success []int `json:"success,omitempty"`
}

// Job is one validated job definition with defaults merged.
type Job struct {
	Name     string `json:"name"`
	Schedule string `json:"schedule"`
	Timezone string `json:"timezone"`

	// Exactly one executor is set.
	Command []string  `json:"command,omitempty"`
	Shell   string    `json:"shell,omitempty"`
	HTTP    *HTTPSpec `json:"http,omitempty"`

	Env             map[string]string `json:"env,omitempty"`
	Timeout         time.Duration     `json:"timeout"`
	Retries         int               `json:"retries"`
	RetryBackoff    time.Duration     `json:"retry_backoff"`
	RetryBackoffMax time.Duration     `json:"retry_backoff_max"`
	Concurrency     ConcurrencyPolicy `json:"concurrency"`
	Misfire         MisfirePolicy     `json:"misfire"`
	CatchupWindow   time.Duration     `json:"catchup_window"`
	// MaxConcurrency bounds this job's attempts running at once on one
	// replica; 0 means only the global pool bounds it.
	MaxConcurrency int           `json:"max_concurrency"`
	Jitter         time.Duration `json:"jitter"`
	Paused         bool          `json:"paused"`
	// Params are the parameters the job declares (params:), nil when it
	// declares none.
	Params *ParamSpec `json:"params,omitempty"`

	// AlertLate makes the leader raise the job's late alert when a run
	// starts, or has waited to start, more than AlertLate after it was due;
	// 0 turns it off.
	AlertLate time.Duration `json:"alert_late"`
	// AlertFailures makes the leader raise the job's failures alert when
	// its last AlertFailures finished runs all failed; 0 turns it off.
	AlertFailures int `json:"alert_failures"`

	// Digest identifies the definition (schedule, executor, env, limits):
	// a worker runs a dispatched run only if its own copy has the same digest
	// (I7). Paused and the alert settings are left out: they do not change
	// how a run executes.
	Digest string `json:"digest"`
	// Line is the line of the job in its config file.
	Line int `json:"line"`

	loc   *time.Location
	sched cron.Schedule
}

// Location is the job's time zone.
func (j *Job) Location() *time.Location {
	if j.loc == nil {
		return time.UTC
	}
	return j.loc
}

// Next returns the first fire time strictly after t, or the zero time if the
// schedule never fires again.
func (j *Job) Next(t time.Time) time.Time {
	if j.sched == nil {
		return time.Time{}
	}
	n := j.sched.Next(t.In(j.Location()))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// MaxAttempts is the first attempt plus retries.
func (j *Job) MaxAttempts() int { return 1 + j.Retries }

// ExecutorKind names the job's executor: "command", "shell" or "http".
func (j *Job) ExecutorKind() string {
	switch {
	case len(j.Command) > 0:
		return "command"
	case j.Shell != "":
		return "shell"
	case j.HTTP != nil:
		return "http"
	}
	return ""
}
