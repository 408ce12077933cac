package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tock-sched/tock/jobs"
)

// The pictures of a job's history, drawn as inline SVG on the server so the
// pages need no script. Colors come from the stylesheet's cell classes
// (c-<status>), the same palette as the st-<status> badges.
const (
	// HistoryRuns is how many of a job's newest runs its page reads (one
	// ListRuns with this limit) for the strip and the charts.
	HistoryRuns = 60
	// StripRuns is how many runs the jobs list shows per job.
	StripRuns = 20
	// MaxStripJobs bounds the jobs whose strip the jobs list draws: one
	// indexed query (job, scheduled_at) of StripRuns rows per job, for the
	// first MaxStripJobs jobs by name; the rest show a link to their page.
	MaxStripJobs = 100

	chartWidth, chartHeight = 640, 150
	// The plot area inside a chart: room for the y labels on the left, the
	// percentile labels on the right and the x labels below.
	plotLeft, plotRight, plotTop, plotBottom = 64, 96, 10, 24
	// labelGap is the least vertical distance between percentile labels.
	labelGap = 12
)

// history is what a job page draws from its newest runs.
type history struct {
	// Runs is the number of run rows read; 0: no runs yet.
	Runs  int
	Strip template.HTML
	// Timed is the number of runs with both a start and an end, over which
	// Duration and Lateness are drawn.
	Timed                  int
	Duration               template.HTML
	DurP50, DurP95, DurP99 time.Duration
	Lateness               template.HTML
	LateP50, LateP99       time.Duration
}

// newHistory draws runs, newest first as ListRuns returns them.
func newHistory(job string, runs []jobs.Run) history {
	h := history{Runs: len(runs)}
	if len(runs) == 0 {
		return h
	}
	h.Strip = statusStrip(job, runs, 12, 22)
	var timed []jobs.Run
	for i := len(runs) - 1; i >= 0; i-- {
		if r := runs[i]; r.StartedAt != nil && r.FinishedAt != nil {
			timed = append(timed, r)
		}
	}
	h.Timed = len(timed)
	if len(timed) == 0 {
		return h
	}
	durs, lates := make([]time.Duration, len(timed)), make([]time.Duration, len(timed))
	for i, r := range timed {
		durs[i], lates[i] = runDuration(r), lateness(r)
	}
	h.DurP50, h.DurP95, h.DurP99 = quantile(durs, 0.5), quantile(durs, 0.95), quantile(durs, 0.99)
	h.LateP50, h.LateP99 = quantile(lates, 0.5), quantile(lates, 0.99)
	h.Duration = barChart("duration", "Duration of the last "+strconv.Itoa(len(timed))+" finished runs of "+job,
		timed, durs, []mark{{"p50", h.DurP50}, {"p95", h.DurP95}, {"p99", h.DurP99}})
	h.Lateness = barChart("lateness", "Start lateness of the last "+strconv.Itoa(len(timed))+" finished runs of "+job,
		timed, lates, []mark{{"p50", h.LateP50}, {"p99", h.LateP99}})
	return h
}

// runDuration is how long a run took, from its first attempt's start to
// its end (retries included); 0 without both ends.
func runDuration(r jobs.Run) time.Duration {
	if r.StartedAt == nil || r.FinishedAt == nil {
		return 0
	}
	return max(0, r.FinishedAt.Sub(*r.StartedAt))
}

// lateness is how long after its tick a run's first attempt started
// (started_at − scheduled_at); 0 before it started. A manual run due now
// that a worker took at once is 0 or a few milliseconds.
func lateness(r jobs.Run) time.Duration {
	if r.StartedAt == nil {
		return 0
	}
	return r.StartedAt.Sub(r.ScheduledAt)
}

// quantile is the q-quantile (0..1) of ds by the nearest-rank method (as
// bench/stats.Quantile): always one of the values, 0 for none. ds is not
// changed.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// statusStrip draws runs (newest first) as a row of cells, oldest on the
// left, each a link to its run with its details as the tooltip.
func statusStrip(job string, runs []jobs.Run, cellW, cellH int) template.HTML {
	var b strings.Builder
	w := len(runs) * cellW
	fmt.Fprintf(&b, `<svg class="strip" width="%d" height="%d" viewBox="0 0 %d %d" role="group" aria-label="%s">`,
		w, cellH, w, cellH, esc(fmt.Sprintf("status of the last %d runs of %s, oldest first", len(runs), job)))
	for i := range runs {
		r := runs[len(runs)-1-i]
		fmt.Fprintf(&b, `<a href="/runs/%d"><rect class="cell c-%s" x="%d" y="0" width="%d" height="%d"><title>%s</title></rect></a>`,
			r.ID, esc(string(r.Status)), i*cellW, cellW-2, cellH, esc(runTip(r)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// runTip is a run's tooltip: its tick, status, trigger, duration and start
// lateness.
func runTip(r jobs.Run) string {
	s := fmt.Sprintf("#%d %s · %s · %s", r.ID, formatTime(r.ScheduledAt), r.Status, r.Trigger)
	if r.StartedAt == nil {
		return s + " · not started"
	}
	s += " · took " + took(r.StartedAt, r.FinishedAt)
	if l := lateness(r); l < 0 {
		return s + " · started " + span(-l) + " early"
	}
	return s + " · started " + span(lateness(r)) + " late"
}

// mark is a horizontal line across a chart at a percentile.
type mark struct {
	Name  string
	Value time.Duration
}

// barChart draws one bar per run (oldest left) of height vals[i], with the
// marks as dashed lines named on the right, and the y scale labelled.
func barChart(id, label string, runs []jobs.Run, vals []time.Duration, marks []mark) template.HTML {
	top := time.Duration(0)
	for _, v := range vals {
		top = max(top, v)
	}
	bottom := time.Duration(0)
	for _, v := range vals {
		bottom = min(bottom, v)
	}
	if top == bottom {
		// All zero (or all equal at 0): a flat chart, not a division by 0.
		top = bottom + time.Millisecond
	}
	pw := float64(chartWidth - plotLeft - plotRight)
	ph := float64(chartHeight - plotTop - plotBottom)
	y := func(v time.Duration) float64 {
		return float64(plotTop) + ph*float64(top-v)/float64(top-bottom)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s-chart" width="%d" height="%d" viewBox="0 0 %d %d" role="group" aria-label="%s">`,
		esc(id), chartWidth, chartHeight, chartWidth, chartHeight, esc(label))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(label))
	// Axes and their labels: the top of the scale, zero, oldest and newest.
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%s"/>`, plotLeft, plotTop, plotLeft, num(float64(chartHeight-plotBottom)))
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%s" x2="%d" y2="%s"/>`, plotLeft, num(y(0)), chartWidth-plotRight, num(y(0)))
	fmt.Fprintf(&b, `<text class="ylabel" x="%d" y="%s">%s</text>`, plotLeft-4, num(y(top)+4), esc(span(top)))
	fmt.Fprintf(&b, `<text class="ylabel" x="%d" y="%s">%s</text>`, plotLeft-4, num(y(0)+4), "0")
	if bottom < 0 {
		fmt.Fprintf(&b, `<text class="ylabel" x="%d" y="%s">%s</text>`, plotLeft-4, num(y(bottom)), esc(span(bottom)))
	}
	fmt.Fprintf(&b, `<text class="xlabel" x="%d" y="%d">%s</text>`, plotLeft, chartHeight-6, esc("oldest "+formatTime(runs[0].ScheduledAt)))
	fmt.Fprintf(&b, `<text class="xlabel end" x="%d" y="%d">%s</text>`, chartWidth-plotRight, chartHeight-6, esc("newest "+formatTime(runs[len(runs)-1].ScheduledAt)))
	slot := pw / float64(len(vals))
	gap := min(2, slot/4)
	for i, v := range vals {
		y0, y1 := y(max(v, 0)), y(min(v, 0))
		fmt.Fprintf(&b, `<a href="/runs/%d"><rect class="bar c-%s" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect></a>`,
			runs[i].ID, esc(string(runs[i].Status)), num(float64(plotLeft)+float64(i)*slot+gap/2), num(y0), num(slot-gap),
			num(max(y1-y0, 1)), esc(fmt.Sprintf("%s %s · %s", id, span(v), runTip(runs[i]))))
	}
	// Marks come in increasing value; a label too close to the one below
	// moves up so both stay legible.
	prev := math.Inf(1)
	for _, m := range marks {
		ly := min(y(m.Value)+4, prev-labelGap)
		prev = ly
		fmt.Fprintf(&b, `<g class="mark %s"><line x1="%d" y1="%s" x2="%d" y2="%s"/><text x="%d" y="%s">%s</text><title>%s</title></g>`,
			esc(m.Name), plotLeft, num(y(m.Value)), chartWidth-plotRight, num(y(m.Value)), chartWidth-plotRight+6,
			num(ly), esc(m.Name+" "+span(m.Value)), esc(m.Name+" of "+id+": "+span(m.Value)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// span shows a duration at a precision fit for its size.
func span(d time.Duration) string {
	a := d
	if a < 0 {
		a = -a
	}
	switch {
	case a == 0:
		return "0s"
	case a < time.Second:
		return d.Round(time.Millisecond).String()
	case a < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// num formats a coordinate; never NaN (the callers divide by non-zero
// spans only), one decimal.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// esc escapes text for SVG content and attribute values.
func esc(s string) string { return template.HTMLEscapeString(strings.ToValidUTF8(s, "\uFFFD")) }
