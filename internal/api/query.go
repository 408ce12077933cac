package api

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Limits of GET /runs.
const (
	DefaultRunLimit = 50
	MaxRunLimit     = 1000
)

// maxJobName bounds a job name parameter; config names are far shorter.
const maxJobName = 200

// jobNameRE is the config's rule for job names (jobfile.Parse enforces it).
var jobNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// RunQueryParams are the query parameters GET /runs accepts.
var RunQueryParams = []string{"job", "status", "trigger", "since", "until", "cursor", "limit"}

// CheckJobName validates a job name given as parameter param.
func CheckJobName(param, name string) error {
	if len(name) > maxJobName || !jobNameRE.MatchString(name) {
		return paramError(param, "%s is not a job name (want [a-z0-9][a-z0-9_.-]*, at most %d characters)", quote(name), maxJobName)
	}
	return nil
}

// ParseRunID validates a run id given as parameter param.
func ParseRunID(param, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strings.HasPrefix(s, "+") {
		return 0, paramError(param, "%s is not a run id (want a positive integer)", quote(s))
	}
	return id, nil
}

// ParseRunQuery turns the query of GET /runs (or the dashboard's filter
// form) into a filter. Empty values count as absent; an unknown parameter,
// a repeated one or a malformed value is an error naming the parameter.
func ParseRunQuery(q url.Values, now time.Time) (storage.RunFilter, error) {
	f := storage.RunFilter{Limit: DefaultRunLimit}
	for k, v := range q {
		if !slices.Contains(RunQueryParams, k) {
			return f, paramError(k, "unknown parameter (want %s)", strings.Join(RunQueryParams, ", "))
		}
		if len(v) > 1 {
			return f, paramError(k, "given %d times; give it once", len(v))
		}
	}
	var err error
	if s := q.Get("job"); s != "" {
		if err := CheckJobName("job", s); err != nil {
			return f, err
		}
		f.Job = s
	}
	if s := q.Get("status"); s != "" {
		if f.Status, err = jobs.ParseStatus(s); err != nil {
			return f, paramError("status", "%s is not a run status (want one of %s)", quote(s), joinStatuses())
		}
	}
	if s := q.Get("trigger"); s != "" {
		if f.Trigger, err = jobs.ParseTrigger(s); err != nil {
			return f, paramError("trigger", "%s is not a trigger (want one of %s)", quote(s), joinTriggers())
		}
	}
	if f.Since, err = parseWhen("since", q.Get("since"), now); err != nil {
		return f, err
	}
	if f.Until, err = parseWhen("until", q.Get("until"), now); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, paramError("since", "must be before until")
	}
	if s := q.Get("cursor"); s != "" {
		c, err := DecodeCursor(s)
		if err != nil {
			return f, err
		}
		f.Before = &c
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxRunLimit {
			return f, paramError("limit", "%s is out of range (want 1 to %d)", quote(s), MaxRunLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// parseWhen reads "24h", "7d", "1d12h" as that long before now, or an RFC
// 3339 time; empty is the zero time.
func parseWhen(param, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.Year() < 1970 || t.Year() > 9999 {
			return time.Time{}, paramError(param, "%s is out of range", quote(s))
		}
		return t.UTC(), nil
	}
	d, err := jobs.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, paramError(param, "%s is neither a duration ago (24h, 7d, 1d12h) nor an RFC 3339 time", quote(s))
	}
	t := now.Add(-d)
	if t.Year() < 1970 {
		t = time.Unix(0, 0)
	}
	return t.UTC(), nil
}

// cursorPrefix versions the opaque cursor encoding.
const cursorPrefix = "v1."

// EncodeCursor returns the opaque token for the page that follows run r
// (newest first: runs older than r).
func EncodeCursor(c storage.Cursor) string {
	raw := strconv.FormatInt(c.ScheduledAt.UnixNano(), 10) + "." + strconv.FormatInt(c.ID, 10)
	return cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor reads a token made by EncodeCursor.
func DecodeCursor(s string) (storage.Cursor, error) {
	bad := func() (storage.Cursor, error) {
		return storage.Cursor{}, paramError("cursor", "not a cursor from a previous page's next_cursor")
	}
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok || len(rest) > 64 {
		return bad()
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return bad()
	}
	ns, id, ok := strings.Cut(string(raw), ".")
	if !ok {
		return bad()
	}
	n, err1 := strconv.ParseInt(ns, 10, 64)
	i, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || i <= 0 || n < 0 {
		return bad()
	}
	return storage.Cursor{ScheduledAt: time.Unix(0, n).UTC(), ID: i}, nil
}

func joinStatuses() string {
	s := make([]string, len(jobs.AllStatuses))
	for i, st := range jobs.AllStatuses {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

func joinTriggers() string {
	s := make([]string, len(jobs.AllTriggers))
	for i, t := range jobs.AllTriggers {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}
