package jobs

import (
	"slices"
	"strings"
	"time"
)

// Built-in defaults, used where neither the job nor the file's defaults block
// sets a value.
const (
	DefaultTimezone        = "UTC"
	DefaultTimeout         = 30 * time.Minute
	DefaultRetries         = 0
	DefaultRetryBackoff    = 10 * time.Second
	DefaultRetryBackoffMax = 10 * time.Minute
	DefaultConcurrency     = ConcurrencyForbid
	DefaultMisfire         = MisfireRunOnce
	DefaultCatchupWindow   = time.Hour
	DefaultJitter          = time.Duration(0)
	// DefaultMaxConcurrency 0 leaves a job bounded only by the global pool.
	DefaultMaxConcurrency = 0
	// DefaultAlertLate 0 turns the late alert off.
	DefaultAlertLate = time.Duration(0)
	// DefaultAlertFailures 0 turns the failures alert off.
	DefaultAlertFailures = 0
	// DefaultNotifyTimeout bounds one delivery attempt of a notification.
	DefaultNotifyTimeout = 10 * time.Second
	// DefaultNotifyRetries is the number of extra delivery attempts after
	// a failed one.
	DefaultNotifyRetries = 3
)

// Config is a validated config file: defaults merged into every job.
type Config struct {
	// Path is the file the config was read from, as given to jobfile.Load
	// or jobfile.Parse.
	Path string `json:"path"`
	// Defaults is the file's defaults block merged over the built-in defaults.
	Defaults Defaults `json:"defaults"`
	// Jobs are in file order.
	Jobs []*Job `json:"jobs"`
	// History says how long finished runs are kept.
	History HistoryConfig `json:"history"`
	// Notify says where the leader sends alert notifications.
	Notify NotifyConfig `json:"notify"`
	// Digest identifies the whole config (every job's digest, its alert
	// settings, the history and notify blocks); replicas whose digest
	// differs from the leader's are flagged.
	Digest string `json:"digest"`

	// byName holds the positions of Jobs sorted by name, for Job: 4 bytes
	// a job where a map by name takes about 40 at a million jobs.
	byName []int32
	// dependents maps a job to the jobs whose after list names it (deps.go);
	// nil when no job has one.
	dependents  map[string][]*Job
	depsIndexed bool
}

// Defaults is the defaults block: values a job inherits unless it sets its own.
type Defaults struct {
	// Timezone is an IANA zone name. Default DefaultTimezone.
	Timezone string `json:"timezone"`
	// Timeout bounds one attempt. Default DefaultTimeout.
	Timeout time.Duration `json:"timeout"`
	// Retries is the number of extra attempts after the first. Default 0.
	Retries int `json:"retries"`
	// RetryBackoff is the delay before the first retry; it doubles each
	// attempt. Default DefaultRetryBackoff.
	RetryBackoff time.Duration `json:"retry_backoff"`
	// RetryBackoffMax caps the backoff. Default DefaultRetryBackoffMax.
	RetryBackoffMax time.Duration `json:"retry_backoff_max"`
	// Concurrency is the overlap policy. Default DefaultConcurrency.
	Concurrency ConcurrencyPolicy `json:"concurrency"`
	// Misfire is the catch-up policy after downtime. Default DefaultMisfire.
	Misfire MisfirePolicy `json:"misfire"`
	// CatchupWindow is how old a missed tick may be and still run. Default
	// DefaultCatchupWindow.
	CatchupWindow time.Duration `json:"catchup_window"`
	// Jitter delays each fire by a random amount up to Jitter. Default 0.
	Jitter time.Duration `json:"jitter"`
	// MaxConcurrency bounds a job's attempts running at once on one replica;
	// 0 means only the global pool bounds it. Default 0.
	MaxConcurrency int `json:"max_concurrency"`
	// AlertLate is how late a run may start before the job's late alert
	// fires; 0 turns it off. Default 0.
	AlertLate time.Duration `json:"alert_late"`
	// AlertFailures is how many finished runs in a row must fail for the
	// job's failures alert to fire; 0 turns it off. Default 0.
	AlertFailures int `json:"alert_failures"`
}

// Settings are the settings the defaults give a job before its own keys.
func (d Defaults) Settings() Settings {
	return Settings{Timezone: d.Timezone, Timeout: d.Timeout, Retries: d.Retries, RetryBackoff: d.RetryBackoff,
		RetryBackoffMax: d.RetryBackoffMax, Concurrency: d.Concurrency, Misfire: d.Misfire, CatchupWindow: d.CatchupWindow,
		Jitter: d.Jitter, MaxConcurrency: d.MaxConcurrency, AlertLate: d.AlertLate, AlertFailures: d.AlertFailures}
}

// BuiltinDefaults returns the defaults that apply when a file has no
// defaults block.
func BuiltinDefaults() Defaults {
	return Defaults{
		Timezone:        DefaultTimezone,
		Timeout:         DefaultTimeout,
		Retries:         DefaultRetries,
		RetryBackoff:    DefaultRetryBackoff,
		RetryBackoffMax: DefaultRetryBackoffMax,
		Concurrency:     DefaultConcurrency,
		Misfire:         DefaultMisfire,
		CatchupWindow:   DefaultCatchupWindow,
		Jitter:          DefaultJitter,
		MaxConcurrency:  DefaultMaxConcurrency,
		AlertLate:       DefaultAlertLate,
		AlertFailures:   DefaultAlertFailures,
	}
}

// HistoryConfig is the history block: how long finished runs are kept. Zero
// values keep forever.
type HistoryConfig struct {
	// Keep is the age after which finished runs are deleted. Default 0 (forever).
	Keep time.Duration `json:"keep"`
	// KeepPerJob is the number of most recent runs kept per job. Default 0
	// (all).
	KeepPerJob int `json:"keep_per_job"`
}

// NotifyConfig is the notify block: where the leader posts alert
// notifications. Without a webhook alerts are only logged and exported as
// metrics.
type NotifyConfig struct {
	// Webhook is the http or https URL each notification is POSTed to as
	// JSON; empty sends none. Default empty.
	Webhook string `json:"webhook,omitempty"`
	// Headers are set on every notification request (e.g. Authorization).
	// They are kept out of JSON, since they often hold a secret.
	Headers map[string]string `json:"-"`
	// Timeout bounds one delivery attempt. Default DefaultNotifyTimeout.
	Timeout time.Duration `json:"timeout"`
	// Retries is the number of extra delivery attempts after a failed one,
	// with exponential backoff. Default DefaultNotifyRetries.
	Retries int `json:"retries"`
}

// Seal finishes a config a loader has built: it sets every job's Digest and
// the config's Digest and indexes the jobs by name for Job. Package jobfile
// calls it once the jobs are final; a config changed afterwards keeps stale
// digests.
func (c *Config) Seal() {
	dc := newCanon()
	c.byName = make([]int32, len(c.Jobs))
	for i, j := range c.Jobs {
		if j.Settings == nil {
			j.Settings = zeroSettings
		}
		j.Digest = dc.jobDigest(j)
		c.byName[i] = int32(i)
	}
	slices.SortStableFunc(c.byName, func(a, b int32) int { return strings.Compare(c.Jobs[a].Name, c.Jobs[b].Name) })
	c.Digest = configDigest(c)
	c.depsIndexed = false
	c.dependents = nil
	c.indexDeps()
}

// Job returns the job named name, or nil; if several have that name, the
// first in file order (jobfile allows none).
func (c *Config) Job(name string) *Job {
	if i := c.Index(name); i >= 0 {
		return c.Jobs[i]
	}
	return nil
}

// Index returns the position in Jobs of the job named name, or -1; if
// several have that name, one of them (jobfile allows none).
func (c *Config) Index(name string) int {
	if c.byName != nil {
		i, found := slices.BinarySearchFunc(c.byName, name, func(at int32, name string) int {
			return strings.Compare(c.Jobs[at].Name, name)
		})
		if !found {
			return -1
		}
		return int(c.byName[i])
	}
	for i, j := range c.Jobs {
		if j.Name == name {
			return i
		}
	}
	return -1
}
