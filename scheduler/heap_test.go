package scheduler

import (
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
)

// TestScheduleRekey: a reload's rekey keeps the entries of jobs the new
// config still has (by name), drops the others, and set and peek work on
// the new config's jobs.
func TestScheduleRekey(t *testing.T) {
	old := mustConfig(t, `
jobs:
  - {name: a, schedule: "* * * * *", command: ["true"]}
  - {name: b, schedule: "* * * * *", command: ["true"]}
  - {name: c, schedule: "* * * * *", command: ["true"]}
`)
	s := newSchedule(func(*jobs.Job) time.Duration { return 0 })
	s.rekey(old)
	for i, j := range old.Jobs {
		s.set(j, t0.Add(time.Duration(3-i)*time.Minute)) // c first, then b, a
	}
	if e := s.peek(); e.job.Name != "c" || s.len() != 3 {
		t.Fatalf("peek %s of %d, want c of 3", e.job.Name, s.len())
	}
	// The new config drops c, keeps a and b in another order, adds d.
	cfg := mustConfig(t, `
jobs:
  - {name: d, schedule: "* * * * *", command: ["true"]}
  - {name: b, schedule: "* * * * *", command: ["true"]}
  - {name: a, schedule: "* * * * *", command: ["true"]}
`)
	s.rekey(cfg)
	if s.len() != 2 || s.entryOf(0) != nil || s.entryOf(1) == nil || s.entryOf(2) == nil {
		t.Fatalf("after rekey: %d entries, d %v, b %v, a %v; want 2, nil, b, a", s.len(), s.entryOf(0), s.entryOf(1), s.entryOf(2))
	}
	if e := s.peek(); e.job.Name != "b" || !e.tick().Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("peek %s at %s, want b at +2m", e.job.Name, e.tick())
	}
	s.set(cfg.Jobs[0], t0)
	s.set(cfg.Jobs[1], time.Time{})
	if e := s.peek(); e.job != cfg.Jobs[0] || s.len() != 2 || s.entryOf(1) != nil {
		t.Fatalf("peek %s of %d (b %v), want d of 2, b removed", e.job.Name, s.len(), s.entryOf(1))
	}
}
