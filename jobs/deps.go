package jobs

import (
	"encoding/json"
	"fmt"
	"slices"
)

// DepCondition says which outcomes of an upstream run let a dependent run
// start (docs/design.md#dependencies).
type DepCondition string

// Dependency conditions.
const (
	// DepSuccess holds for a run that succeeded.
	DepSuccess DepCondition = "success"
	// DepFailure holds for a run that ran (at least one attempt) and did
	// not succeed: failed, timed_out, lost, or canceled while running.
	DepFailure DepCondition = "failure"
	// DepCompleted holds for any terminal run that ran (at least one
	// attempt), whatever its outcome.
	DepCompleted DepCondition = "completed"
)

// AllDepConditions lists every dependency condition; the first is the
// default.
var AllDepConditions = []DepCondition{DepSuccess, DepFailure, DepCompleted}

// Holds reports whether a terminal run with status st and attempt number
// attempt (0: it never started) satisfies c. Runs that never ran — missed,
// skipped, canceled or failed before a first attempt — satisfy none.
func (c DepCondition) Holds(st RunStatus, attempt int) bool {
	if !st.Terminal() || attempt == 0 || st == StatusMissed || st == StatusSkipped {
		return false
	}
	switch c {
	case DepSuccess:
		return st == StatusSucceeded
	case DepFailure:
		return st != StatusSucceeded
	case DepCompleted:
		return true
	}
	return false
}

// Upstream is one entry of a job's after list: the job it follows and the
// condition on that job's run.
type Upstream struct {
	Job string       `json:"job"`
	On  DepCondition `json:"on"`
}

// Deps are a job's dependencies (its after list). A Job without any has a
// nil Deps, so jobs that do not use them pay one pointer.
type Deps struct {
	// After lists the upstream jobs in file order; each job at most once.
	After []Upstream `json:"after"`
}

// MarshalJSON writes Deps as its after list, as the config file says it.
func (d *Deps) MarshalJSON() ([]byte, error) { return json.Marshal(d.After) }

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Deps) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &d.After) }

// FanIn reports whether the job follows more than one upstream: its runs
// then join the upstreams' runs of one tick.
func (d *Deps) FanIn() bool { return d != nil && len(d.After) > 1 }

// Upstream returns the entry for job, or nil.
func (d *Deps) Upstream(job string) *Upstream {
	if d == nil {
		return nil
	}
	for i := range d.After {
		if d.After[i].Job == job {
			return &d.After[i]
		}
	}
	return nil
}

// Dependents returns the jobs whose after list names job, in file order;
// nil when none does.
func (c *Config) Dependents(job string) []*Job {
	c.indexDeps()
	return c.dependents[job]
}

// HasDeps reports whether any job of the config declares after.
func (c *Config) HasDeps() bool {
	c.indexDeps()
	return len(c.dependents) > 0
}

// indexDeps builds the dependents index on first use; Seal calls it so
// that a sealed config is read-only afterwards.
func (c *Config) indexDeps() {
	if c.depsIndexed {
		return
	}
	c.depsIndexed = true
	for _, j := range c.Jobs {
		if j.deps() == nil {
			continue
		}
		if c.dependents == nil {
			c.dependents = map[string][]*Job{}
		}
		for _, u := range j.Deps.After {
			if !slices.Contains(c.dependents[u.Job], j) {
				c.dependents[u.Job] = append(c.dependents[u.Job], j)
			}
		}
	}
}

// DepEdge is one edge of the dependency graph: Job follows Upstream on
// condition On.
type DepEdge struct {
	Upstream string       `json:"upstream"`
	Job      string       `json:"job"`
	On       DepCondition `json:"on"`
}

// String formats the edge as `tock validate` prints it: "a -> b (success)".
func (e DepEdge) String() string { return fmt.Sprintf("%s -> %s (%s)", e.Upstream, e.Job, e.On) }

// DepEdges lists every edge of the config's dependency graph, by
// dependent in file order and then by its after list.
func (c *Config) DepEdges() []DepEdge {
	var out []DepEdge
	for _, j := range c.Jobs {
		if j.deps() == nil {
			continue
		}
		for _, u := range j.Deps.After {
			out = append(out, DepEdge{Upstream: u.Job, Job: j.Name, On: u.On})
		}
	}
	return out
}
