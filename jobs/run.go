package jobs

import (
	"fmt"
	"time"
)

// RunStatus is the state of a run in its lifecycle (docs/design.md#run-lifecycle).
type RunStatus string

// Run states. scheduled → queued → running → one of the terminal states;
// missed and skipped are terminal rows written instead of a run.
const (
	StatusScheduled RunStatus = "scheduled"
	StatusQueued    RunStatus = "queued"
	StatusRunning   RunStatus = "running"
	StatusSucceeded RunStatus = "succeeded"
	StatusFailed    RunStatus = "failed"
	StatusTimedOut  RunStatus = "timed_out"
	StatusCanceled  RunStatus = "canceled"
	StatusLost      RunStatus = "lost"
	StatusMissed    RunStatus = "missed"
	StatusSkipped   RunStatus = "skipped"
)

// AllStatuses lists every run status, in lifecycle order.
var AllStatuses = []RunStatus{
	StatusScheduled, StatusQueued, StatusRunning, StatusSucceeded, StatusFailed,
	StatusTimedOut, StatusCanceled, StatusLost, StatusMissed, StatusSkipped,
}

// Terminal reports whether no further transition leaves s.
func (s RunStatus) Terminal() bool {
	switch s {
	case StatusScheduled, StatusQueued, StatusRunning:
		return false
	}
	return true
}

// Valid reports whether s is a known status.
func (s RunStatus) Valid() bool {
	for _, k := range AllStatuses {
		if k == s {
			return true
		}
	}
	return false
}

// ParseStatus parses a status name as given on the command line or API.
func ParseStatus(s string) (RunStatus, error) {
	if RunStatus(s).Valid() {
		return RunStatus(s), nil
	}
	return "", fmt.Errorf("jobs: unknown run status %q (want one of %v)", s, AllStatuses)
}

// Trigger says why a run exists.
type Trigger string

// Run triggers.
const (
	TriggerSchedule Trigger = "schedule"
	TriggerCatchup  Trigger = "catchup"
	TriggerManual   Trigger = "manual"
	TriggerRetry    Trigger = "retry"
	// TriggerDependency marks a run started because its upstream runs
	// ended (after:).
	TriggerDependency Trigger = "dependency"
	// TriggerBackfill marks a run created by a backfill for a past tick
	// of the job's schedule; it holds that tick like a scheduled run (I1).
	TriggerBackfill Trigger = "backfill"
)

// AllTriggers lists every trigger.
var AllTriggers = []Trigger{TriggerSchedule, TriggerCatchup, TriggerManual, TriggerRetry, TriggerDependency, TriggerBackfill}

// ParseTrigger parses a trigger name.
func ParseTrigger(s string) (Trigger, error) {
	for _, t := range AllTriggers {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("jobs: unknown trigger %q (want one of %v)", s, AllTriggers)
}

// Run is one row of history: one scheduled tick, catch-up, or manual trigger
// of a job, across all of its attempts.
type Run struct {
	ID          int64     `json:"id"`
	Job         string    `json:"job"`
	Digest      string    `json:"digest"`
	ScheduledAt time.Time `json:"scheduled_at"`
	Trigger     Trigger   `json:"trigger"`
	Status      RunStatus `json:"status"`
	// Attempt is the number of the current or last attempt; 0 before the first.
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	Node        string     `json:"node"`
	NotBefore   time.Time  `json:"not_before"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	ExitCode    *int       `json:"exit_code"`
	Error       string     `json:"error"`
	// CancelRequested is set by a cancel (API, CLI, replace policy); the worker
	// holding the run stops it on its next heartbeat.
	CancelRequested bool `json:"cancel_requested"`
	// Shard and ShardTotal are the shard index (0-based) and the number of
	// shards of a broadcast job's tick; 0 and 0 for any other run.
	Shard      int `json:"shard"`
	ShardTotal int `json:"shard_total"`
	// PinnedNode is the node a broadcast shard is pinned to: only that
	// node claims it while the pin holds; "" once released (its node died
	// or stopped heartbeating) and for any other run.
	PinnedNode string `json:"pinned_node,omitempty"`
	// RunOnLabels are the labels (text form, "k=v,k2=v2") a replica must
	// carry to claim the run, as the leader's config said when it queued
	// it; "" for none.
	RunOnLabels string `json:"run_on_labels,omitempty"`
	// Params are the parameters a manual trigger set, with the job's
	// defaults filled in once the leader queued the run; nil for a run
	// that executes with the job's defaults (scheduled, catch-up,
	// backfill).
	Params map[string]string `json:"params,omitempty"`
	// BackfillID is the backfill that created the run, 0 for none.
	BackfillID int64 `json:"backfill_id,omitempty"`
	// Epoch is the leader epoch in force when the current attempt was
	// claimed, as stored on that attempt (Attempt.Epoch). Store.Claim and
	// Store.ClaimMany set it on the runs they return, for the worker's
	// fencing token (Run.Fence); other reads of runs leave it 0 and the
	// history shows each attempt's epoch instead, so it is not part of a
	// run's JSON.
	Epoch int64 `json:"-"`
	// UpstreamRuns are, for a run with trigger dependency (or a skipped
	// row in its place), the upstream runs it followed, in the order of
	// its job's after list.
	UpstreamRuns []int64 `json:"upstream_runs,omitempty"`
	// DownstreamRuns are the dependency runs (and skipped rows) that
	// followed this run. Like UpstreamRuns, only Store.GetRun fills it.
	DownstreamRuns []int64 `json:"downstream_runs,omitempty"`
	// Traceparent is the W3C traceparent of the span that dispatched the
	// run, written with its row by a leader that traces (OTEL_*
	// variables); "" otherwise. Its trace id finds the run's trace.
	Traceparent string `json:"traceparent,omitempty"`
}

// Attempt is one execution of a run on one node.
type Attempt struct {
	RunID      int64      `json:"run_id"`
	Number     int        `json:"number"`
	Node       string     `json:"node"`
	Status     RunStatus  `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	LeaseUntil time.Time  `json:"lease_until"`
	ExitCode   *int       `json:"exit_code"`
	Error      string     `json:"error"`
	Output     string     `json:"output"`
	// OutputDropped counts bytes cut from the middle of the output (I8).
	OutputDropped int64 `json:"output_dropped"`
	// Epoch is the leader epoch in force when the attempt was claimed: the
	// first part of its fencing token (Fence). 0 for attempts recorded
	// before tock stored it.
	Epoch int64 `json:"epoch"`
}

// Backoff returns the delay before attempt number next (2, 3, …): base doubled
// for each attempt after the second, capped at max.
func Backoff(base, max time.Duration, next int) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := 2; i < next; i++ {
		d *= 2
		if max > 0 && d >= max {
			return max
		}
	}
	if max > 0 && d > max {
		return max
	}
	return d
}
