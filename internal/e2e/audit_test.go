package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
)

// fakeHistory is a Store that only answers ListRuns (with the keyset
// paging contract) and GetRun, from fixed rows.
type fakeHistory struct {
	storage.Store
	runs     []jobs.Run
	attempts map[int64][]jobs.Attempt
	pages    int
}

func (f *fakeHistory) ListRuns(_ context.Context, flt storage.RunFilter) ([]jobs.Run, error) {
	f.pages++
	rs := append([]jobs.Run(nil), f.runs...)
	sort.Slice(rs, func(a, b int) bool {
		if !rs[a].ScheduledAt.Equal(rs[b].ScheduledAt) {
			return rs[a].ScheduledAt.After(rs[b].ScheduledAt)
		}
		return rs[a].ID > rs[b].ID
	})
	var out []jobs.Run
	for _, r := range rs {
		if !flt.Since.IsZero() && r.ScheduledAt.Before(flt.Since) || !flt.Until.IsZero() && !r.ScheduledAt.Before(flt.Until) {
			continue
		}
		if c := flt.Before; c != nil && !(r.ScheduledAt.Before(c.ScheduledAt) || r.ScheduledAt.Equal(c.ScheduledAt) && r.ID < c.ID) {
			continue
		}
		out = append(out, r)
		if len(out) == flt.Limit {
			break
		}
	}
	return out, nil
}

func (f *fakeHistory) GetRun(_ context.Context, id int64) (jobs.Run, []jobs.Attempt, error) {
	for _, r := range f.runs {
		if r.ID == id {
			return r, f.attempts[id], nil
		}
	}
	return jobs.Run{}, nil, storage.ErrNotFound
}

func tickJobsForTest(t *testing.T, n int) []*jobs.Job {
	t.Helper()
	cfg, err := jobfile.Parse("tock.yaml", []byte(TickConfig(n, "")))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Jobs
}

func TestAudit(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sec := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	ptr := func(t time.Time) *time.Time { return &t }
	js := tickJobsForTest(t, 2)
	a, b := js[0].Name, js[1].Name

	// full returns one succeeded schedule row per job and second of [0, n),
	// each created 10ms after its tick.
	full := func(n int) []jobs.Run {
		var rs []jobs.Run
		id := int64(0)
		for s := range n {
			for _, j := range []string{a, b} {
				id++
				rs = append(rs, jobs.Run{ID: id, Job: j, ScheduledAt: sec(s), Trigger: jobs.TriggerSchedule, Status: jobs.StatusSucceeded,
					Attempt: 1, CreatedAt: sec(s).Add(10 * time.Millisecond)})
			}
		}
		return rs
	}
	tests := []struct {
		name     string
		edit     func(rs []jobs.Run) []jobs.Run
		attempts map[int64][]jobs.Attempt
		check    func(t *testing.T, r Report)
	}{{
		name: "clean",
		edit: func(rs []jobs.Run) []jobs.Run { return rs },
		check: func(t *testing.T, r Report) {
			if !r.Clean() || r.Rows != 20 || r.Runs != 20 || r.Duplicates+r.Missed+r.SilentlyMissing+r.Stuck+r.Pending != 0 {
				t.Errorf("report %+v, want 20 clean runs", r)
			}
			if r.MaxDispatchGap != time.Second {
				t.Errorf("max dispatch gap %s, want 1s", r.MaxDispatchGap)
			}
		},
	}, {
		name: "missing, duplicate, missed, off schedule, manual ignored",
		edit: func(rs []jobs.Run) []jobs.Run {
			rs = append(rs[:4], rs[5:]...) // job a at 2s: silently missing
			rs = append(rs,
				jobs.Run{ID: 100, Job: b, ScheduledAt: sec(3), Trigger: jobs.TriggerCatchup, Status: jobs.StatusSucceeded, CreatedAt: sec(3)},
				jobs.Run{ID: 101, Job: a, ScheduledAt: sec(4).Add(time.Millisecond), Trigger: jobs.TriggerSchedule, Status: jobs.StatusSucceeded, CreatedAt: sec(4)},
				jobs.Run{ID: 102, Job: a, ScheduledAt: sec(5), Trigger: jobs.TriggerManual, Status: jobs.StatusSucceeded, CreatedAt: sec(5)},
				jobs.Run{ID: 103, Job: "other", ScheduledAt: sec(5), Trigger: jobs.TriggerSchedule, Status: jobs.StatusSucceeded, CreatedAt: sec(5)},
			)
			rs[0].Status = jobs.StatusMissed
			return rs
		},
		check: func(t *testing.T, r Report) {
			if r.SilentlyMissing != 1 || r.Duplicates != 1 || r.OffSchedule != 1 || r.Missed != 1 || r.Clean() {
				t.Errorf("report %+v, want 1 missing, 1 duplicate, 1 off schedule, 1 missed", r)
			}
			if r.Rows != 21 || r.Runs != 20 || r.TicksExpected != 20 {
				t.Errorf("rows %d runs %d ticks %d, want 21, 20, 20", r.Rows, r.Runs, r.TicksExpected)
			}
			if len(r.Problems) != 3 {
				t.Errorf("problems %q, want 3", r.Problems)
			}
		},
	}, {
		name: "stuck and pending",
		edit: func(rs []jobs.Run) []jobs.Run {
			rs[0].Status = jobs.StatusQueued                                   // created at 0s: stuck
			rs[18].Status, rs[18].StartedAt = jobs.StatusRunning, ptr(sec(20)) // started late: pending
			return rs
		},
		check: func(t *testing.T, r Report) {
			if r.Stuck != 1 || r.Pending != 1 || r.Clean() {
				t.Errorf("stuck %d pending %d, want 1 and 1", r.Stuck, r.Pending)
			}
		},
	}, {
		name: "lost attempts and the dispatch gap",
		edit: func(rs []jobs.Run) []jobs.Run {
			rs[2].Attempt, rs[3].Attempt, rs[3].Status = 2, 2, jobs.StatusFailed
			for i := 10; i < 16; i++ { // seconds 5..7 dispatched at 7.9s
				rs[i].Trigger, rs[i].CreatedAt = jobs.TriggerCatchup, sec(7).Add(900*time.Millisecond)
			}
			return rs
		},
		attempts: map[int64][]jobs.Attempt{
			3: {{Number: 1, Status: jobs.StatusLost}, {Number: 2, Status: jobs.StatusSucceeded}},
			4: {{Number: 1, Status: jobs.StatusLost}, {Number: 2, Status: jobs.StatusFailed}},
		},
		check: func(t *testing.T, r Report) {
			if !r.Clean() || r.LostAttempts != 2 || r.LostRecovered != 1 || r.Retried != 2 {
				t.Errorf("lost %d recovered %d retried %d clean %v, want 2, 1, 2, clean", r.LostAttempts, r.LostRecovered, r.Retried, r.Clean())
			}
			if want := 3*time.Second + 890*time.Millisecond; r.MaxDispatchGap != want || !r.MaxDispatchGapAt.Equal(sec(4).Add(10*time.Millisecond)) {
				t.Errorf("max dispatch gap %s at %s, want %s at 4.01s", r.MaxDispatchGap, r.MaxDispatchGapAt, want)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHistory{runs: tt.edit(full(12)), attempts: tt.attempts}
			r, err := Audit(context.Background(), f, AuditParams{Jobs: js, From: sec(0), To: sec(10), Now: sec(30), StuckAfter: 15 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestListWindowPages(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := &fakeHistory{}
	for i := range 1234 {
		// Several rows per second, so that pages split a second.
		f.runs = append(f.runs, jobs.Run{ID: int64(i + 1), ScheduledAt: base.Add(time.Duration(i/7) * time.Second)})
	}
	got, err := ListWindow(context.Background(), f, base.Add(10*time.Second), base.Add(150*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := 140 * 7
	if len(got) != want {
		t.Fatalf("got %d rows, want %d", len(got), want)
	}
	seen := map[int64]bool{}
	for _, r := range got {
		if seen[r.ID] {
			t.Fatalf("run %d listed twice", r.ID)
		}
		seen[r.ID] = true
	}
	if f.pages < 2 {
		t.Errorf("%d pages, want paging", f.pages)
	}
}

func TestTickConfig(t *testing.T) {
	js := tickJobsForTest(t, 20)
	if len(js) != 20 {
		t.Fatalf("%d jobs, want 20", len(js))
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 500, time.UTC)
	for _, j := range js {
		if n := j.Next(at); !n.Equal(at.Truncate(time.Second).Add(time.Second)) {
			t.Errorf("%s: next after %s is %s, want the next second", j.Name, at, n)
		}
		if j.Concurrency != jobs.ConcurrencyAllow || j.Misfire != jobs.MisfireRunAll || j.CatchupWindow != time.Hour || j.MaxAttempts() != 2 {
			t.Errorf("%s: %s %s %s %d attempts", j.Name, j.Concurrency, j.Misfire, j.CatchupWindow, j.MaxAttempts())
		}
	}
}
