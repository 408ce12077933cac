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

// Settings are a job's limits and policies, defaults merged (the fields of
// Defaults first, Defaults.Settings), and its rarely set blocks. Jobs whose
// settings are equal share one Settings value (a file of a million jobs
// holds a handful), so a Settings is read-only once a job points at it:
// give a job other settings by pointing it at another value.
type Settings struct {
	Timezone        string            `json:"timezone"`
	Timeout         time.Duration     `json:"timeout"`
	Retries         int               `json:"retries"`
	RetryBackoff    time.Duration     `json:"retry_backoff"`
	RetryBackoffMax time.Duration     `json:"retry_backoff_max"`
	Concurrency     ConcurrencyPolicy `json:"concurrency"`
	Misfire         MisfirePolicy     `json:"misfire"`
	CatchupWindow   time.Duration     `json:"catchup_window"`
	Jitter          time.Duration     `json:"jitter"`
	// MaxConcurrency bounds this job's attempts running at once on one
	// replica; 0 means only the global pool bounds it.
	MaxConcurrency int `json:"max_concurrency"`

	// AlertLate makes the leader raise the job's late alert when a run
	// starts, or has waited to start, more than AlertLate after it was due;
	// 0 turns it off.
	AlertLate time.Duration `json:"alert_late"`
	// AlertFailures makes the leader raise the job's failures alert when
	// its last AlertFailures finished runs all failed; 0 turns it off.
	AlertFailures int `json:"alert_failures"`

	// Rarely set, so kept here rather than on every job: jobs that set
	// them get settings of their own (the pointers differ).
	// RunOn is the job's run_on block (placement: required labels,
	// broadcast); nil for a job that runs anywhere, once per tick.
	RunOn *Placement `json:"run_on,omitempty"`

	// Deps lists the upstream jobs whose runs start this job's runs
	// (after:); nil for a job without. A job with Deps may have no
	// Schedule: it then runs only when its upstreams do.
	Deps *Deps `json:"after,omitempty"`

	// Params are the parameters the job declares (params:), nil when it
	// declares none.
	Params *ParamSpec `json:"params,omitempty"`
}

// placement, deps and params read the rarely set blocks, nil for a job
// built by hand without settings.
func (j *Job) placement() *Placement {
	if j.Settings == nil {
		return nil
	}
	return j.Settings.RunOn
}

func (j *Job) deps() *Deps {
	if j.Settings == nil {
		return nil
	}
	return j.Settings.Deps
}

// ParamSpec is the job's declared parameters; nil for none (and for a job
// built by hand without settings).
func (j *Job) ParamSpec() *ParamSpec { return j.params() }

func (j *Job) params() *ParamSpec {
	if j.Settings == nil {
		return nil
	}
	return j.Settings.Params
}

// zeroSettings is what a job built without settings points at once sealed.
var zeroSettings = &Settings{}

// Job is one validated job definition with defaults merged.
//
// Its limits and policies are in the embedded *Settings, shared between
// jobs (their fields read as the job's own: j.Timeout); Config.Seal points
// a job without settings at zero settings.
type Job struct {
	Name     string `json:"name"`
	Schedule string `json:"schedule"`

	// Exactly one executor is set.
	Command []string  `json:"command,omitempty"`
	Shell   string    `json:"shell,omitempty"`
	HTTP    *HTTPSpec `json:"http,omitempty"`

	Env map[string]string `json:"env,omitempty"`

	*Settings

	Paused bool `json:"paused"`
	// Line is the line of the job in its config file.
	Line int32 `json:"line"`

	// Digest identifies the definition (schedule, executor, env, limits):
	// a worker runs a dispatched run only if its own copy has the same digest
	// (I7). Paused and the alert settings are left out: they do not change
	// how a run executes.
	Digest string `json:"digest"`

	// when is the parsed schedule and its zone, shared by the jobs with the
	// same spec and zone (ScheduleCache).
	when *when
}

// when is a parsed schedule and the zone it is evaluated in.
type when struct {
	sched cron.Schedule
	loc   *time.Location
}

// Location is the job's time zone.
func (j *Job) Location() *time.Location {
	if j.when == nil || j.when.loc == nil {
		return time.UTC
	}
	return j.when.loc
}

// Next returns the first fire time strictly after t, or the zero time if the
// schedule never fires again.
func (j *Job) Next(t time.Time) time.Time {
	if j.when == nil || j.when.sched == nil {
		return time.Time{}
	}
	n := j.when.sched.Next(t.In(j.Location()))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// MaxAttempts is the first attempt plus retries.
func (j *Job) MaxAttempts() int {
	if j.Settings == nil {
		return 1
	}
	return 1 + j.Retries
}

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
