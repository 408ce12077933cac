package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
)

func mustJob(t *testing.T, extra string) *jobs.Job {
	t.Helper()
	cfg, err := jobfile.Parse("test.yaml", []byte("jobs:\n  - name: j\n    schedule: \"@every 1m\"\n    command: [\"true\"]\n"+extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Jobs[0]
}

func TestPlanTicks(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	ticks := func(n int) []time.Time {
		var ts []time.Time
		for i := 0; i < n; i++ {
			ts = append(ts, t0.Add(time.Duration(i)*time.Minute))
		}
		return ts
	}
	type row struct {
		trig   jobs.Trigger
		status jobs.RunStatus
	}
	S := row{jobs.TriggerSchedule, jobs.StatusQueued}
	C := row{jobs.TriggerCatchup, jobs.StatusQueued}
	M := row{jobs.TriggerCatchup, jobs.StatusMissed}
	cases := []struct {
		name   string
		extra  string
		ticks  []time.Time
		now    time.Time
		expect []row
	}{
		{"on time", "", ticks(1), t0.Add(time.Second), []row{S}},
		{"late within onTime", "", ticks(2), t0.Add(time.Minute + 4*time.Second), []row{C, S}},
		{"run_once keeps newest", "    misfire: run_once\n", ticks(4), t0.Add(10 * time.Minute), []row{M, M, M, C}},
		{"run_all runs every one", "    misfire: run_all\n", ticks(3), t0.Add(10 * time.Minute), []row{C, C, C}},
		{"skip records all missed", "    misfire: skip\n", ticks(3), t0.Add(10 * time.Minute), []row{M, M, M}},
		{"skip but newest on time", "    misfire: skip\n", ticks(3), t0.Add(2*time.Minute + time.Second), []row{M, M, S}},
		{"older than catchup_window missed", "    misfire: run_all\n    catchup_window: 150s\n", ticks(4), t0.Add(4 * time.Minute), []row{M, M, C, C}},
		{"run_once all too old", "    misfire: run_once\n    catchup_window: 1m\n", ticks(3), t0.Add(time.Hour), []row{M, M, M}},
		{"run_once with on-time newest", "    misfire: run_once\n", ticks(3), t0.Add(2*time.Minute + time.Second), []row{M, C, S}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := mustJob(t, tc.extra)
			p := planTicks(j, tc.ticks, tc.now, 5*time.Second, nil)
			if len(p.runs) != len(tc.ticks) {
				t.Fatalf("rows = %d, want one per tick (%d)", len(p.runs), len(tc.ticks))
			}
			if !p.cursor.Equal(tc.ticks[len(tc.ticks)-1]) {
				t.Fatalf("cursor = %v, want last tick", p.cursor)
			}
			for i, r := range p.runs {
				got := row{r.Trigger, r.Status}
				if got != tc.expect[i] {
					t.Errorf("tick %d: got %v, want %v", i, got, tc.expect[i])
				}
				if !r.ScheduledAt.Equal(tc.ticks[i]) {
					t.Errorf("tick %d: scheduled_at %v, want %v", i, r.ScheduledAt, tc.ticks[i])
				}
				if r.Status == jobs.StatusMissed && r.Error == "" {
					t.Errorf("tick %d: missed row without a reason", i)
				}
			}
		})
	}
}

func TestPlanTicksJitterAndNotBefore(t *testing.T) {
	t.Parallel()
	j := mustJob(t, "    jitter: 30s\n")
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	p := planTicks(j, []time.Time{t0}, t0, time.Second, func(*jobs.Job) time.Duration { return 7 * time.Second })
	if got := p.runs[0].NotBefore; !got.Equal(t0.Add(7 * time.Second)) {
		t.Fatalf("not_before = %v, want tick + jitter", got)
	}
	if !p.runs[0].ScheduledAt.Equal(t0) {
		t.Fatalf("jitter must not change scheduled_at")
	}
}

func TestDueTicks(t *testing.T) {
	t.Parallel()
	j := mustJob(t, "")
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		after, now time.Time
		max, want  int
	}{
		{t0, t0, 10, 0},
		{t0, t0.Add(time.Minute), 10, 1},
		{t0, t0.Add(59 * time.Minute), 100, 59},
		{t0, t0.Add(59 * time.Minute), 10, 10},
	} {
		t.Run(fmt.Sprint(tc.now.Sub(tc.after), tc.max), func(t *testing.T) {
			got := dueTicks(j, tc.after, tc.now, tc.max)
			if len(got) != tc.want {
				t.Fatalf("got %d ticks, want %d", len(got), tc.want)
			}
			for i := 1; i < len(got); i++ {
				if !got[i].After(got[i-1]) {
					t.Fatalf("ticks not ascending")
				}
			}
		})
	}
}
