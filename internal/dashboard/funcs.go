package dashboard

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/tock-sched/tock/jobs"
)

func (d *Dashboard) funcs() template.FuncMap {
	return template.FuncMap{
		"ts":       formatTime,
		"ago":      func(t any) string { return relative(timeOf(t), d.now()) },
		"took":     took,
		"span":     span,
		"code":     exitCode,
		"text":     func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") },
		"short":    func(s string, n int) string { return cut(s, n) },
		"terminal": func(s jobs.RunStatus) bool { return s.Terminal() },
		"outbytes": jobs.OutputBytes,
		"selected": func(a, b string) bool { return a == b },
		"deref": func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		},
	}
}

// timeOf accepts a time.Time or *time.Time; the zero time for nil.
func timeOf(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case *time.Time:
		if t != nil {
			return *t
		}
	}
	return time.Time{}
}

// formatTime shows a time in UTC to the second, "–" for none.
func formatTime(v any) string {
	t := timeOf(v)
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// relative says how far t is from now: "in 4m", "2h ago".
func relative(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(now)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d >= 0:
		return "in " + roughly(d)
	}
	return roughly(-d) + " ago"
}

func roughly(d time.Duration) string {
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

// took is the wall time between two times (time.Time or *time.Time), "–"
// while unfinished.
func took(start, end any) string {
	s, e := timeOf(start), timeOf(end)
	if s.IsZero() || e.IsZero() {
		return "–"
	}
	d := e.Sub(s)
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func exitCode(c *int) string {
	if c == nil {
		return "–"
	}
	return strconv.Itoa(*c)
}

func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
