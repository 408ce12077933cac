package jobs

import (
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%s): %v", name, err)
	}
	return loc
}

// testJob builds a job the way the config loader does.
func testJob(t *testing.T, spec, zone string) *Job {
	t.Helper()
	loc := mustLoad(t, zone)
	s, err := ParseSchedule(spec, loc)
	if err != nil {
		t.Fatalf("ParseSchedule(%q): %v", spec, err)
	}
	return &Job{Name: "t", Schedule: spec, when: &when{sched: s, loc: loc}, Settings: &Settings{Timezone: zone}}
}

func TestParseScheduleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ spec, msg string }{
		{"", "empty schedule"},
		{"   ", "empty schedule"},
		{"* * * *", `expected exactly 5 fields, found 4: "* * * *"`},
		{"*", "expected exactly 5 fields, found 1"},
		{"* * * * * * *", "expected 5 fields (6 with leading seconds), found 7"},
		{"61 * * * *", `minute field "61": end of range (61) above maximum (59)`},
		{"0 24 * * *", `hour field "24"`},
		{"0 0 0 * *", `day-of-month field "0"`},
		{"0 0 32 * *", `day-of-month field "32"`},
		{"0 0 * 13 *", `month field "13"`},
		{"0 0 * foo *", `month field "foo"`},
		{"0 0 * * 7", `day-of-week field "7"`},
		{"60 0 0 * * *", `second field "60"`},
		{"a b c d e", `minute field "a"`},
		{"*/0 * * * *", "step of range should be a positive number"},
		{"5-1 * * * *", "beginning of range (5) beyond end of range (1)"},
		{"CRON_TZ=Europe/Berlin 0 0 * * *", "time zone prefix CRON_TZ= is not allowed"},
		{"TZ=UTC", "time zone prefix TZ= is not allowed"}, // robfig itself panics on this
		{"@reboot", `unknown descriptor "@reboot"`},
		{"@everyday", `unknown descriptor "@everyday"`},
		{"@Daily", `unknown descriptor "@Daily"`},
		{"@daily extra", `unknown descriptor`},
		{"@every", "invalid duration"},
		{"@every 1fortnight", "@every: invalid duration"},
		{"@every 500ms", "below the minimum of 1s"},
		{"@every -5s", "below the minimum of 1s"},
		{"@every 1.5s", "not a whole number of seconds"},
		{"0 0 30 2 *", "never fires"},
		{"0 0 31 4,6,9,11 *", "never fires"},
	}
	for _, tc := range tests {
		_, err := ParseSchedule(tc.spec, time.UTC)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseSchedule(%q) = %v, want error containing %q", tc.spec, err, tc.msg)
		}
	}
}

func TestNextTimes(t *testing.T) {
	t.Parallel()
	const layout = "2006-01-02 15:04:05"
	tests := []struct {
		name, zone, spec string
		from             string // wall-clock time in zone
		want             []string
	}{
		{"every quarter hour", "UTC", "*/15 * * * *", "2026-01-01 00:07:00",
			[]string{"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z"}},
		{"strictly after", "UTC", "0 3 * * *", "2026-01-01 03:00:00",
			[]string{"2026-01-02T03:00:00Z", "2026-01-03T03:00:00Z"}},
		{"six fields: seconds", "UTC", "*/20 * * * * *", "2026-01-01 12:00:05",
			[]string{"2026-01-01T12:00:20Z", "2026-01-01T12:00:40Z", "2026-01-01T12:01:00Z"}},
		{"six fields: fixed second", "Asia/Kolkata", "30 15 9 * * *", "2026-01-01 10:00:00",
			[]string{"2026-01-02T09:15:30+05:30", "2026-01-03T09:15:30+05:30"}},
		{"weekdays", "America/New_York", "0 9 * * 1-5", "2026-03-06 10:00:00", // DST starts Sun 03-08
			[]string{"2026-03-09T09:00:00-04:00", "2026-03-10T09:00:00-04:00"}},
		{"dom or dow", "UTC", "0 0 13 * 5", "2026-02-01 00:00:00", // the 13th, or any Friday
			[]string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z"}},
		{"leap day", "UTC", "0 0 29 2 *", "2026-01-01 00:00:00",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"names", "UTC", "0 12 * jan,jul mon", "2026-01-01 00:00:00",
			[]string{"2026-01-05T12:00:00Z", "2026-01-12T12:00:00Z"}},
		{"@yearly", "Europe/Berlin", "@yearly", "2026-06-01 00:00:00",
			[]string{"2027-01-01T00:00:00+01:00", "2028-01-01T00:00:00+01:00"}},
		{"@annually", "UTC", "@annually", "2026-06-01 00:00:00", []string{"2027-01-01T00:00:00Z"}},
		{"@monthly", "Asia/Kolkata", "@monthly", "2026-01-15 00:00:00",
			[]string{"2026-02-01T00:00:00+05:30", "2026-03-01T00:00:00+05:30"}},
		{"@weekly", "UTC", "@weekly", "2026-01-01 00:00:00", // a Thursday; weeks start on Sunday
			[]string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"@daily", "Europe/Berlin", "@daily", "2026-06-01 12:00:00",
			[]string{"2026-06-02T00:00:00+02:00", "2026-06-03T00:00:00+02:00"}},
		{"@midnight", "America/New_York", "@midnight", "2026-11-01 00:30:00",
			[]string{"2026-11-02T00:00:00-05:00"}},
		{"@hourly", "Asia/Kolkata", "@hourly", "2026-01-01 10:59:59",
			[]string{"2026-01-01T11:00:00+05:30", "2026-01-01T12:00:00+05:30"}},
		{"@every", "UTC", "@every 90s", "2026-01-01 12:00:00",
			[]string{"2026-01-01T12:01:30Z", "2026-01-01T12:03:00Z"}},
		{"@every days", "Europe/Berlin", "@every 1d", "2026-03-28 12:00:00", // real time, not wall time
			[]string{"2026-03-29T13:00:00+02:00", "2026-03-30T13:00:00+02:00"}},

		// Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET.
		{"spring forward, fixed", "Europe/Berlin", "30 2 * * *", "2026-03-28 00:00:00",
			[]string{"2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"spring forward, fixed, seconds", "Europe/Berlin", "15 30 2 * * *", "2026-03-29 00:00:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:15+02:00"}},
		{"spring forward, gap and after collapse", "Europe/Berlin", "0 2,3 * * *", "2026-03-29 00:00:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00", "2026-03-30T03:00:00+02:00"}},
		{"spring forward, from in the gap's hour", "Europe/Berlin", "30 2 * * *", "2026-03-29 01:59:59",
			[]string{"2026-03-29T03:00:00+02:00"}},
		{"spring forward, hourly", "Europe/Berlin", "30 * * * *", "2026-03-29 00:45:00",
			[]string{"2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00"}},
		{"spring forward, every 30 min in hour 2", "Europe/Berlin", "*/30 2 * * *", "2026-03-29 00:00:00",
			[]string{"2026-03-30T02:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"fall back, fixed", "Europe/Berlin", "30 2 * * *", "2026-10-24 00:00:00",
			[]string{"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"fall back, from between the two 02:30s", "Europe/Berlin", "30 2 * * *", "2026-10-25 02:45:00",
			[]string{"2026-10-26T02:30:00+01:00"}},
		{"fall back, hourly", "Europe/Berlin", "30 * * * *", "2026-10-25 01:00:00",
			[]string{"2026-10-25T01:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00", "2026-10-25T03:30:00+01:00"}},
		{"fall back, fixed list of minutes", "Europe/Berlin", "0,30 2 * * *", "2026-10-25 00:00:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:00:00+01:00"}},

		// America/New_York: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
		{"new york spring", "America/New_York", "15 2 * * *", "2026-03-07 12:00:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"}},
		{"new york fall", "America/New_York", "15 1 * * *", "2026-10-31 12:00:00",
			[]string{"2026-11-01T01:15:00-04:00", "2026-11-02T01:15:00-05:00"}},

		// Australia/Sydney: 2026-10-04 02:00 AEST → 03:00 AEDT; 2026-04-05 03:00 AEDT → 02:00 AEST.
		{"sydney spring", "Australia/Sydney", "30 2 * * *", "2026-10-03 12:00:00",
			[]string{"2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00"}},
		{"sydney fall", "Australia/Sydney", "30 2 * * *", "2026-04-04 12:00:00",
			[]string{"2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00"}},

		// Australia/Lord_Howe shifts by 30 minutes: 2026-10-04 02:00 → 02:30;
		// 2026-04-05 02:00 → 01:30.
		{"lord howe spring", "Australia/Lord_Howe", "15 2 * * *", "2026-10-03 12:00:00",
			[]string{"2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"}},
		{"lord howe fall", "Australia/Lord_Howe", "45 1 * * *", "2026-04-04 12:00:00",
			[]string{"2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"}},
		{"lord howe fall, every 10 min", "Australia/Lord_Howe", "*/10 1 * * *", "2026-04-05 01:15:00",
			[]string{"2026-04-05T01:20:00+11:00", "2026-04-05T01:30:00+11:00", "2026-04-05T01:40:00+11:00",
				"2026-04-05T01:50:00+11:00", "2026-04-05T01:30:00+10:30", "2026-04-05T01:40:00+10:30",
				"2026-04-05T01:50:00+10:30", "2026-04-06T01:00:00+10:30"}},
		{"from in the second occurrence", "Europe/Berlin", "30 * * * *", "2026-10-25 02:10:00", // parses as CET
			[]string{"2026-10-25T02:30:00+01:00", "2026-10-25T03:30:00+01:00"}},

		// America/Havana changes at midnight: 2026-03-08 00:00 CST → 01:00 CDT;
		// 2026-11-01 01:00 CDT → 00:00 CST.
		{"havana daily, midnight missing", "America/Havana", "@daily", "2026-03-07 12:00:00",
			[]string{"2026-03-08T01:00:00-04:00", "2026-03-09T00:00:00-04:00"}},
		{"havana daily, midnight twice", "America/Havana", "@daily", "2026-10-31 12:00:00",
			[]string{"2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"}},

		// Pacific/Apia skipped 2011-12-30 entirely.
		{"apia skipped day", "Pacific/Apia", "0 12 * * *", "2011-12-29 13:00:00",
			[]string{"2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := testJob(t, tc.spec, tc.zone)
			from, err := time.ParseInLocation(layout, tc.from, j.Location())
			if err != nil {
				t.Fatal(err)
			}
			cfg := &Config{Jobs: []*Job{j}}
			got := cfg.NextTimes(j, from, len(tc.want))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d times %v, want %d", len(got), got, len(tc.want))
			}
			for i, g := range got {
				if g.Location() != j.Location() {
					t.Errorf("time %d in %v, want the job's zone", i, g.Location())
				}
				if s := g.Format(time.RFC3339); s != tc.want[i] {
					t.Errorf("time %d = %s, want %s", i, s, tc.want[i])
				}
			}
		})
	}
}

func TestJobNextIsUTC(t *testing.T) {
	t.Parallel()
	j := testJob(t, "30 2 * * *", "Europe/Berlin")
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, mustLoad(t, "America/New_York"))
	n := j.Next(from)
	if n.Location() != time.UTC {
		t.Fatalf("Next in %v, want UTC", n.Location())
	}
	if want := time.Date(2026, 6, 2, 0, 30, 0, 0, time.UTC); !n.Equal(want) {
		t.Errorf("Next = %v, want %v", n, want)
	}
	// A sub-second from rounds up to the next whole second.
	e := testJob(t, "* * * * * *", "UTC")
	if got := e.Next(time.Date(2026, 1, 1, 0, 0, 0, 5e8, time.UTC)); !got.Equal(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)) {
		t.Errorf("Next(.5s) = %v", got)
	}
}

// TestFixedOncePerDay walks a whole year in zones with different kinds of
// transitions: a fixed-time daily job fires exactly once per local date.
func TestFixedOncePerDay(t *testing.T) {
	t.Parallel()
	zones := []string{"Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "America/Havana", "Asia/Kolkata", "UTC"}
	specs := []string{"30 2 * * *", "0 0 * * *", "15 1 * * *", "59 23 * * *", "0 3 * * *", "45 1 * * *"}
	for _, zone := range zones {
		for _, spec := range specs {
			j := testJob(t, spec, zone)
			loc := j.Location()
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Add(-time.Second)
			end := time.Date(2027, 1, 1, 0, 0, 0, 0, loc)
			perDay := map[string]int{}
			prev := start
			for n := j.Next(start); n.Before(end); n = j.Next(n) {
				if !n.After(prev) {
					t.Fatalf("%s %q: %v not after %v", zone, spec, n, prev)
				}
				prev = n
				perDay[n.In(loc).Format("2006-01-02")]++
			}
			for d := time.Date(2026, 1, 1, 12, 0, 0, 0, loc); d.Year() == 2026; d = d.AddDate(0, 0, 1) {
				if c := perDay[d.Format("2006-01-02")]; c != 1 {
					t.Errorf("%s %q: %d fires on %s, want 1", zone, spec, c, d.Format("2006-01-02"))
				}
			}
		}
	}
}

// TestWildcardRealInterval: a wildcard spec keeps its real-time interval
// across whole-hour transitions.
func TestWildcardRealInterval(t *testing.T) {
	t.Parallel()
	for _, zone := range []string{"Europe/Berlin", "America/New_York", "Australia/Sydney"} {
		for _, tc := range []struct {
			spec     string
			interval time.Duration
		}{{"0 * * * *", time.Hour}, {"30 * * * *", time.Hour}, {"*/15 * * * *", 15 * time.Minute}} {
			j := testJob(t, tc.spec, zone)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, j.Location())
			prev := j.Next(t0)
			for n := j.Next(prev); n.Year() < 2027; prev, n = n, j.Next(n) {
				if d := n.Sub(prev); d != tc.interval {
					t.Fatalf("%s %q: %v after %v, want %v", zone, tc.spec, n.In(j.Location()), prev.In(j.Location()), tc.interval)
				}
			}
		}
	}
}

// TestRobfigDSTBaseline records what robfig/cron does on its own for
// "30 2 * * *" in Europe/Berlin, which is why zonedSchedule exists: it skips
// the spring-forward day and fires twice on the fall-back day.
func TestRobfigDSTBaseline(t *testing.T) {
	t.Parallel()
	berlin := mustLoad(t, "Europe/Berlin")
	raw, err := specParser.Parse("CRON_TZ=Europe/Berlin 30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	fires := func(s cron.Schedule, from time.Time, n int) []string {
		var out []string
		for t := from; len(out) < n; {
			t = s.Next(t)
			out = append(out, t.In(berlin).Format(time.RFC3339))
		}
		return out
	}
	spring := fires(raw, time.Date(2026, 3, 28, 12, 0, 0, 0, berlin), 1)
	if spring[0] != "2026-03-30T02:30:00+02:00" {
		t.Errorf("robfig spring-forward: %v (expected it to skip 2026-03-29)", spring)
	}
	fall := fires(raw, time.Date(2026, 10, 24, 12, 0, 0, 0, berlin), 2)
	if fall[0] != "2026-10-25T02:30:00+02:00" || fall[1] != "2026-10-25T02:30:00+01:00" {
		t.Errorf("robfig fall-back: %v (expected two fires on 2026-10-25)", fall)
	}
}

func TestNextTimesEdges(t *testing.T) {
	t.Parallel()
	cfg := &Config{}
	j := testJob(t, "@daily", "UTC")
	if got := cfg.NextTimes(j, time.Now(), 0); got != nil {
		t.Errorf("n=0: %v", got)
	}
	if got := cfg.NextTimes(nil, time.Now(), 3); got != nil {
		t.Errorf("nil job: %v", got)
	}
	// A job without a schedule (hand-built) never fires.
	if got := cfg.NextTimes(&Job{Name: "x"}, time.Now(), 3); len(got) != 0 {
		t.Errorf("no schedule: %v", got)
	}
}
