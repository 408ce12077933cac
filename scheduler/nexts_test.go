package scheduler

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
)

// nextsFromNow computes on several goroutines exactly the next ticks the
// serial walk of load would ask each job for, and only for the jobs load
// schedules from now: not for those already in the heap unchanged, nor for
// those it catches up from their cursor.
func TestNextsFromNowMatchesSerial(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	n := parallelNextsMin + 1234
	var b strings.Builder
	b.WriteString("jobs:\n")
	schedules := []string{"*/7 * * * *", "0 3 * * *", "@every 90s", "15 10 * * MON-FRI", "0 0 29 2 *"}
	for i := range n {
		fmt.Fprintf(&b, "  - {name: j%06d, schedule: %q, timezone: %s, http: {url: \"http://127.0.0.1:1/\"}}\n",
			i, schedules[i%len(schedules)], []string{"UTC", "Europe/Berlin", "America/New_York"}[i%3])
	}
	cfg, err := jobfile.Parse("nexts.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 29, 0, 59, 30, 0, time.UTC)
	s := New(cfg, Options{})
	term := &term{s: s, sched: newSchedule(s.dispatchLead)}
	term.sched.rekey(cfg)
	states := map[string]storage.JobState{}
	for i, j := range cfg.Jobs {
		switch i % 4 {
		case 1: // in the heap, unchanged: skipped
			term.sched.setAt(i, j, now.Add(time.Hour))
		case 2: // a cursor in the past: caught up when catchUp, else from now
			states[j.Name] = storage.JobState{Job: j.Name, Cursor: now.Add(-time.Hour)}
		case 3: // a cursor ahead of now: from the cursor
			states[j.Name] = storage.JobState{Job: j.Name, Cursor: now.Add(36 * time.Hour)}
		}
	}
	for _, catchUp := range []bool{true, false} {
		nexts := term.nextsFromNow(cfg, states, catchUp, now)
		if len(nexts) != n {
			t.Fatalf("catchUp %v: %d nexts for %d jobs", catchUp, len(nexts), n)
		}
		for i, j := range cfg.Jobs {
			cursor := states[j.Name].Cursor
			var want time.Time
			switch {
			case i%4 == 1, catchUp && !cursor.IsZero():
			default:
				want = j.Next(later(now, cursor))
			}
			if !nexts[i].Equal(want) {
				t.Fatalf("catchUp %v: job %d (%s %s): next %v, want %v", catchUp, i, j.Schedule, j.Timezone, nexts[i], want)
			}
		}
	}
	small := &jobs.Config{Jobs: cfg.Jobs[:10]}
	small.Seal()
	if got := term.nextsFromNow(small, states, false, now); got != nil {
		t.Fatalf("a 10-job config got parallel nexts: %d", len(got))
	}
}
