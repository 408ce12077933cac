package jobs

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// specParser accepts 5 fields, 6 with leading seconds, and descriptors.
var specParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// MinEvery is the shortest @every interval.
const MinEvery = time.Second

// descriptors are the named schedules robfig/cron understands, and whether
// each names a fixed time of day (see zonedSchedule).
var descriptors = map[string]bool{
	"@yearly":   true,
	"@annually": true,
	"@monthly":  true,
	"@weekly":   true,
	"@daily":    true,
	"@midnight": true,
	"@hourly":   false,
}

// fieldNames name the six cron fields for error messages.
var fieldNames = []struct {
	name string
	opt  cron.ParseOption
}{
	{"second", cron.Second},
	{"minute", cron.Minute},
	{"hour", cron.Hour},
	{"day-of-month", cron.Dom},
	{"month", cron.Month},
	{"day-of-week", cron.Dow},
}

// scheduleRef is where ParseSchedule looks for a first fire time, to reject
// specs that never fire (e.g. 30 February). Any fixed instant works: cron
// patterns repeat within robfig's five-year search.
var scheduleRef = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ParseSchedule parses a job's schedule, evaluated on the wall clock of loc:
// 5 fields (minute granularity), 6 fields with leading seconds, a descriptor
// (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly) or
// @every <duration> (at least MinEvery, whole seconds, measured from the
// previous fire and independent of loc).
//
// Daylight saving time is handled the way Vixie cron does it, which
// robfig/cron on its own does not (it skips a 02:30 job on the day 02:30 does
// not exist and runs it twice on the day 02:30 happens twice):
//
//   - A fixed-time spec (neither minute nor hour field starts with * or ?,
//     e.g. "30 2 * * *", @daily) fires once per matching wall-clock time.
//     A time in a spring-forward gap fires at the first instant after the gap
//     (02:30 → 03:00 the new offset); a time that occurs twice on a fall-back
//     day fires only at its first occurrence.
//   - A wildcard spec ("*/15 * * * *", "30 * * * *", @hourly) fires at every
//     instant whose wall-clock time matches: nothing for times in a gap, both
//     occurrences of a repeated time, so the interval between fires stays the
//     same in real time.
func ParseSchedule(spec string, loc *time.Location) (cron.Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, errors.New("jobs: empty schedule")
	}
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if strings.HasPrefix(s, p) {
			return nil, fmt.Errorf("jobs: time zone prefix %s is not allowed in a schedule: set the timezone field instead", p)
		}
	}
	if strings.HasPrefix(s, "@") {
		return parseDescriptor(s, loc)
	}
	fields := strings.Fields(s)
	switch n := len(fields); {
	case n < 5:
		return nil, fmt.Errorf("jobs: expected exactly 5 fields, found %d: %q", n, s)
	case n > 6:
		return nil, fmt.Errorf("jobs: expected 5 fields (6 with leading seconds), found %d: %q", n, s)
	}
	parsed, err := specParser.Parse(strings.Join(fields, " "))
	if err != nil {
		return nil, fieldError(fields, err)
	}
	minute, hour := fields[len(fields)-5], fields[len(fields)-4]
	fixed := !isWild(minute) && !isWild(hour)
	return newZonedSchedule(parsed, loc, fixed, s)
}

func isWild(field string) bool {
	return strings.HasPrefix(field, "*") || strings.HasPrefix(field, "?")
}

func parseDescriptor(s string, loc *time.Location) (cron.Schedule, error) {
	if rest, ok := strings.CutPrefix(s, "@every"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
		d, err := ParseDuration(rest)
		if err != nil {
			return nil, fmt.Errorf("jobs: @every: %w", err)
		}
		if d < MinEvery {
			return nil, fmt.Errorf("jobs: @every interval %s is below the minimum of %s", d, MinEvery)
		}
		if d%time.Second != 0 {
			return nil, fmt.Errorf("jobs: @every interval %s is not a whole number of seconds", d)
		}
		return cron.Every(d), nil
	}
	fixed, ok := descriptors[s]
	if !ok {
		return nil, fmt.Errorf("jobs: unknown descriptor %q (want @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>)", s)
	}
	parsed, err := specParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("jobs: parsing %q: %w", s, err)
	}
	return newZonedSchedule(parsed, loc, fixed, s)
}

// fieldError names the field robfig/cron rejected.
func fieldError(fields []string, err error) error {
	names := fieldNames[1:]
	if len(fields) == 6 {
		names = fieldNames
	}
	for i, f := range fields {
		if _, ferr := cron.NewParser(names[i].opt).Parse(f); ferr != nil {
			return fmt.Errorf("jobs: %s field %q: %v", names[i].name, f, ferr)
		}
	}
	return fmt.Errorf("jobs: %v", err)
}

func newZonedSchedule(parsed cron.Schedule, loc *time.Location, fixed bool, spec string) (cron.Schedule, error) {
	ss, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("jobs: parsing %q: unexpected schedule type %T", spec, parsed)
	}
	wall := *ss
	wall.Location = time.UTC
	z := &zonedSchedule{wall: &wall, loc: loc, fixed: fixed}
	if wall.Next(scheduleRef).IsZero() {
		return nil, fmt.Errorf("jobs: schedule %q never fires", spec)
	}
	return z, nil
}

// SetSchedule parses spec with ParseSchedule, evaluated in loc, and makes
// it j's schedule: Schedule becomes spec with runs of white space collapsed,
// Next follows it and Location returns loc. On error j is unchanged. Loaders
// (package jobfile) call it with the zone that j.Timezone names.
func (j *Job) SetSchedule(spec string, loc *time.Location) error {
	s, err := ParseSchedule(spec, loc)
	if err != nil {
		return err
	}
	j.Schedule, j.when = normalizeSpec(spec), &when{sched: s, loc: loc}
	return nil
}

// ScheduleCache parses each distinct schedule once: jobs given the same spec
// and zone through it share one parsed schedule (and one Schedule string),
// which is immutable. The zero value is ready to use; it is not safe for
// concurrent use. Loaders keep one per config they build.
type ScheduleCache struct {
	m map[scheduleKey]sharedSchedule
}

type scheduleKey struct {
	spec string
	loc  *time.Location
}

type sharedSchedule struct {
	spec string
	when *when
}

// SetSchedule is j.SetSchedule(spec, loc), sharing the parsed schedule with
// the jobs given the same spec and zone before.
func (c *ScheduleCache) SetSchedule(j *Job, spec string, loc *time.Location) error {
	key := scheduleKey{spec, loc}
	if s, ok := c.m[key]; ok {
		j.Schedule, j.when = s.spec, s.when
		return nil
	}
	if err := j.SetSchedule(spec, loc); err != nil {
		return err
	}
	if c.m == nil {
		c.m = map[scheduleKey]sharedSchedule{}
	}
	c.m[key] = sharedSchedule{j.Schedule, j.when}
	return nil
}

// normalizeSpec is the spec with runs of white space collapsed, as stored in
// Job.Schedule and digested.
func normalizeSpec(spec string) string {
	return strings.Join(strings.Fields(spec), " ")
}

// maxZoneHops bounds the zone periods one Next call walks through; robfig
// gives up after five years, which holds far fewer transitions.
const maxZoneHops = 1000

// zonedSchedule evaluates a cron spec on the wall clock of loc, handling
// daylight saving transitions as ParseSchedule describes.
//
// Within one zone period (between two offset transitions) wall time and
// instant map one to one, so the spec is matched on naive wall-clock times
// (robfig evaluating in UTC, which has no transitions) and mapped back with
// the period's offset.
type zonedSchedule struct {
	wall  *cron.SpecSchedule // evaluated on wall-clock times written as UTC
	loc   *time.Location
	fixed bool
}

// Next returns the first fire time strictly after t, in loc, or the zero
// time if there is none within robfig's five-year horizon.
func (z *zonedSchedule) Next(t time.Time) time.Time {
	from := t.Truncate(time.Second).Add(time.Second) // first candidate, inclusive
	for range maxZoneHops {
		local := from.In(z.loc)
		_, off := local.Zone()
		start, end := local.ZoneBounds()
		if z.fixed && from.Equal(start) && z.gapMatches(start, off) {
			// A fixed time that falls in the spring-forward gap just
			// before this period fires when the gap ends.
			return start.In(z.loc)
		}
		w := z.wall.Next(wallClock(from, off).Add(-time.Second))
		if w.IsZero() {
			return time.Time{}
		}
		at := time.Unix(w.Unix()-int64(off), 0)
		if !end.IsZero() && !at.Before(end) {
			from = end // nothing left in this period
			continue
		}
		if z.fixed {
			// A fixed time already had its first occurrence before a
			// fall-back transition: skip the repeated stretch.
			if repeatEnd := repeatedUntil(start, off, z.loc); at.Before(repeatEnd) {
				from = repeatEnd
				continue
			}
		}
		return at.In(z.loc)
	}
	return time.Time{}
}

// gapMatches reports whether the clock jumped forward at start (the first
// instant of a period with offset off) over a wall-clock time the spec matches.
func (z *zonedSchedule) gapMatches(start time.Time, off int) bool {
	if start.IsZero() {
		return false
	}
	_, prev := start.Add(-time.Second).In(z.loc).Zone()
	if prev >= off {
		return false
	}
	gapStart, gapEnd := wallClock(start, prev), wallClock(start, off)
	g := z.wall.Next(gapStart.Add(-time.Second))
	return !g.IsZero() && g.Before(gapEnd)
}

// wallClock writes the wall-clock time of instant t at offset off as a UTC time.
func wallClock(t time.Time, off int) time.Time {
	return time.Unix(t.Unix()+int64(off), 0).UTC()
}

// repeatedUntil returns the end of the stretch at the start of a zone period
// (beginning at start with offset off) whose wall-clock times already
// occurred before the transition, or start if the clock did not go back.
func repeatedUntil(start time.Time, off int, loc *time.Location) time.Time {
	if start.IsZero() {
		return start
	}
	_, prev := start.Add(-time.Second).In(loc).Zone()
	if prev <= off {
		return start
	}
	return start.Add(time.Duration(prev-off) * time.Second)
}

// NextTimes returns the next n fire times of j after from, in the job's time
// zone, for display (tock validate). It stops early if the schedule ends.
func (c *Config) NextTimes(j *Job, from time.Time, n int) []time.Time {
	if j == nil || n <= 0 {
		return nil
	}
	out := make([]time.Time, 0, n)
	t := from
	for range n {
		t = j.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t.In(j.Location()))
	}
	return out
}
