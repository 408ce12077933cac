package dashboard

import (
	"context"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/api/apitest"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// svgElem is an element of a drawn SVG: its name, attributes and the text
// of its <title> child, if any.
type svgElem struct {
	Name  string
	Attr  map[string]string
	Title string
}

// parseSVG reads an SVG as XML (so it is well formed and its escaping is
// right) and returns its elements in document order. Every coordinate must
// be a finite number.
func parseSVG(t *testing.T, s template.HTML) []*svgElem {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(s)))
	var out, stack []*svgElem
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well formed: %v\n%s", err, s)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			e := &svgElem{Name: tk.Name.Local, Attr: map[string]string{}}
			for _, a := range tk.Attr {
				e.Attr[a.Name.Local] = a.Value
				switch a.Name.Local {
				case "x", "y", "x1", "x2", "y1", "y2", "width", "height":
					f, err := strconv.ParseFloat(a.Value, 64)
					if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
						t.Errorf("<%s %s=%q>: not a finite number", e.Name, a.Name.Local, a.Value)
					}
				}
			}
			out = append(out, e)
			stack = append(stack, e)
		case xml.CharData:
			if n := len(stack); n >= 2 && stack[n-1].Name == "title" {
				stack[n-2].Title += string(tk)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	return out
}

func byClass(es []*svgElem, prefix string) []*svgElem {
	var out []*svgElem
	for _, e := range es {
		if strings.HasPrefix(e.Attr["class"], prefix) {
			out = append(out, e)
		}
	}
	return out
}

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// none, as run's started or took, leaves the run unstarted or unfinished.
const none time.Duration = math.MinInt64

// run is a run of job "j" ticked at t0+id minutes, started that long after
// its tick and taking took.
func run(id int64, st jobs.RunStatus, started, took time.Duration) jobs.Run {
	r := jobs.Run{ID: id, Job: "j", Status: st, Trigger: jobs.TriggerSchedule, ScheduledAt: t0.Add(time.Duration(id) * time.Minute)}
	if started != none {
		s := r.ScheduledAt.Add(started)
		r.StartedAt = &s
		if took != none {
			f := s.Add(took)
			r.FinishedAt = &f
		}
	}
	return r
}

func newestFirst(rs ...jobs.Run) []jobs.Run {
	out := make([]jobs.Run, len(rs))
	for i, r := range rs {
		out[len(rs)-1-i] = r
	}
	return out
}

func TestQuantile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // reversed: quantile sorts a copy
	}
	for _, c := range []struct {
		vals []time.Duration
		q    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.5, 7 * time.Millisecond},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(3, 1, 2), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(hundred...), 0.5, 50 * time.Millisecond},
		{ms(hundred...), 0.95, 95 * time.Millisecond},
		{ms(hundred...), 0.99, 99 * time.Millisecond},
		{ms(hundred...), 1, 100 * time.Millisecond},
	} {
		in := append([]time.Duration(nil), c.vals...)
		if got := quantile(c.vals, c.q); got != c.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", c.vals, c.q, got, c.want)
		}
		for i := range in {
			if in[i] != c.vals[i] {
				t.Fatalf("quantile changed its input")
			}
		}
	}
}

func TestStatusStripCellsAndColors(t *testing.T) {
	runs := newestFirst(
		run(1, jobs.StatusSucceeded, time.Second, 2*time.Second),
		run(2, jobs.StatusFailed, 0, time.Second),
		run(3, jobs.StatusMissed, none, none),
		run(4, jobs.StatusSkipped, none, none),
		run(5, jobs.StatusRunning, 3*time.Second, none),
	)
	es := parseSVG(t, statusStrip("j", runs, 12, 22))
	cells := byClass(es, "cell ")
	want := []jobs.RunStatus{jobs.StatusSucceeded, jobs.StatusFailed, jobs.StatusMissed, jobs.StatusSkipped, jobs.StatusRunning}
	if len(cells) != len(want) {
		t.Fatalf("%d cells, want %d", len(cells), len(want))
	}
	var links []string
	for _, e := range es {
		if e.Name == "a" {
			links = append(links, e.Attr["href"])
		}
	}
	for i, c := range cells {
		if c.Attr["class"] != "cell c-"+string(want[i]) {
			t.Errorf("cell %d class %q, want status %s (oldest left)", i, c.Attr["class"], want[i])
		}
		if x := c.Attr["x"]; x != strconv.Itoa(i*12) {
			t.Errorf("cell %d at x=%s", i, x)
		}
		if links[i] != fmt.Sprintf("/runs/%d", i+1) {
			t.Errorf("cell %d links to %s", i, links[i])
		}
	}
	for i, sub := range []string{
		"#1 2026-11-28 12:01:00 · succeeded · schedule · took 2s · started 1s late",
		"#2 2026-11-28 12:02:00 · failed · schedule · took 1s · started 0s late",
		"#3 2026-11-28 12:03:00 · missed · schedule · not started",
		"#4 2026-11-28 12:04:00 · skipped",
		"#5 2026-11-28 12:05:00 · running · schedule · took – · started 3s late",
	} {
		if !strings.Contains(cells[i].Title, sub) {
			t.Errorf("cell %d title %q, want %q", i, cells[i].Title, sub)
		}
	}
}

func TestHistoryPercentilesAndCharts(t *testing.T) {
	var rs []jobs.Run
	for i := 1; i <= 20; i++ {
		// Durations 1s..20s, lateness i*10ms; a missed tick every 5th.
		if i%5 == 0 {
			rs = append(rs, run(int64(i), jobs.StatusMissed, none, none))
			continue
		}
		rs = append(rs, run(int64(i), jobs.StatusSucceeded, time.Duration(i)*10*time.Millisecond, time.Duration(i)*time.Second))
	}
	h := newHistory("j", newestFirst(rs...))
	if h.Runs != 20 || h.Timed != 16 {
		t.Fatalf("runs %d timed %d, want 20 and 16", h.Runs, h.Timed)
	}
	// The 16 timed runs are 1..19 without 5, 10, 15: p50 is the 8th = 9s,
	// p95 the 16th (ceil 15.2) = 19s.
	if h.DurP50 != 9*time.Second || h.DurP95 != 19*time.Second || h.DurP99 != 19*time.Second {
		t.Errorf("duration p50/p95/p99 %v %v %v", h.DurP50, h.DurP95, h.DurP99)
	}
	if h.LateP50 != 90*time.Millisecond || h.LateP99 != 190*time.Millisecond {
		t.Errorf("lateness p50/p99 %v %v", h.LateP50, h.LateP99)
	}
	if n := len(byClass(parseSVG(t, h.Strip), "cell ")); n != 20 {
		t.Errorf("strip has %d cells, want one per run row (20)", n)
	}
	dur := parseSVG(t, h.Duration)
	bars := byClass(dur, "bar ")
	if len(bars) != 16 {
		t.Fatalf("duration chart has %d bars, want 16", len(bars))
	}
	// Bars grow with the duration; the longest reaches the top of the plot.
	h0, _ := strconv.ParseFloat(bars[0].Attr["height"], 64)
	h15, _ := strconv.ParseFloat(bars[15].Attr["height"], 64)
	if !(h0 < h15) || bars[15].Attr["y"] != strconv.Itoa(plotTop)+".0" {
		t.Errorf("bar heights %v..%v, last at y=%s", h0, h15, bars[15].Attr["y"])
	}
	if !strings.Contains(bars[0].Title, "duration 1s") || !strings.Contains(bars[15].Title, "duration 19s") {
		t.Errorf("bar titles %q, %q", bars[0].Title, bars[15].Title)
	}
	marks := byClass(dur, "mark ")
	if len(marks) != 3 || marks[0].Title != "p50 of duration: 9s" || marks[2].Title != "p99 of duration: 19s" {
		t.Errorf("duration marks: %+v", marks)
	}
	var texts int
	for _, e := range dur {
		if e.Name == "text" {
			texts++
		}
	}
	if texts < 4+3 {
		t.Errorf("duration chart has %d labels, want the axes' and the marks'", texts)
	}
	late := byClass(parseSVG(t, h.Lateness), "mark ")
	if len(late) != 2 || late[1].Title != "p99 of lateness: 190ms" {
		t.Errorf("lateness marks: %+v", late)
	}
}

func TestHistoryEdgeCases(t *testing.T) {
	if h := newHistory("j", nil); h.Runs != 0 || h.Strip != "" || h.Duration != "" {
		t.Errorf("no runs: %+v", h)
	}
	// Only unstarted rows: a strip, no charts.
	h := newHistory("j", newestFirst(run(1, jobs.StatusMissed, none, none), run(2, jobs.StatusSkipped, none, none)))
	if h.Runs != 2 || h.Timed != 0 || h.Duration != "" || h.Lateness != "" {
		t.Errorf("missed and skipped only: %+v", h)
	}
	// One run of zero duration started on time: flat charts, finite numbers.
	h = newHistory("j", []jobs.Run{run(1, jobs.StatusSucceeded, 0, 0)})
	if h.Timed != 1 || h.DurP99 != 0 || h.LateP50 != 0 {
		t.Errorf("single zero run: %+v", h)
	}
	for _, s := range []template.HTML{h.Strip, h.Duration, h.Lateness} {
		if strings.Contains(string(s), "NaN") || strings.Contains(string(s), "Inf") {
			t.Errorf("NaN or Inf in %s", s)
		}
		parseSVG(t, s)
	}
	// A run started before its tick (a manual run taken at once, clocks
	// apart): negative lateness is drawn below zero, not off the chart.
	h = newHistory("j", newestFirst(run(1, jobs.StatusSucceeded, -2*time.Second, time.Second), run(2, jobs.StatusSucceeded, time.Second, time.Second)))
	if tip := byClass(parseSVG(t, h.Strip), "cell ")[0].Title; !strings.HasSuffix(tip, "started 2s early") {
		t.Errorf("tooltip of a run started before its tick: %q", tip)
	}
	for _, b := range byClass(parseSVG(t, h.Lateness), "bar ") {
		y, _ := strconv.ParseFloat(b.Attr["y"], 64)
		ht, _ := strconv.ParseFloat(b.Attr["height"], 64)
		if y < plotTop || y+ht > chartHeight-plotBottom+0.05 {
			t.Errorf("lateness bar outside the plot: y=%v height=%v", y, ht)
		}
	}
}

func TestHistoryEscapesText(t *testing.T) {
	name := `a<b>&"c'`
	r := run(1, jobs.StatusSucceeded, time.Second, time.Second)
	r.Job = name
	h := newHistory(name, []jobs.Run{r})
	for _, s := range []template.HTML{h.Strip, h.Duration, h.Lateness} {
		if strings.Contains(string(s), name) || strings.Contains(string(s), "<b>") {
			t.Errorf("job name not escaped in\n%s", s)
		}
		es := parseSVG(t, s)
		if !strings.Contains(es[0].Attr["aria-label"], name) {
			t.Errorf("aria-label %q does not read back as the name", es[0].Attr["aria-label"])
		}
	}
}

// TestHistoryPages renders the pictures in the job page and the jobs list
// of the test history: backup has a succeeded, a failed and a queued run,
// report a running run and a missed tick, frozen nothing.
func TestHistoryPages(t *testing.T) {
	t.Parallel()
	r := newRig(t, api.Auth{})
	status, body, _ := r.get(r.c, "/jobs/backup")
	if status != http.StatusOK {
		t.Fatalf("job page: %d", status)
	}
	wantContains(t, "backup page", body, `id="strip"`, `class="cell c-succeeded"`, `class="cell c-failed"`, `class="cell c-queued"`,
		`id="duration-chart"`, `id="lateness-chart"`, `id="duration-stats"`, "p99 <strong>",
		fmt.Sprintf(`href="/runs/%d"`, r.h.Failed))
	if n := strings.Count(body, `<rect class="cell `); n != 3 {
		t.Errorf("backup page: %d strip cells, want 3", n)
	}
	_, body, _ = r.get(r.c, "/jobs/report")
	wantContains(t, "report page", body, `class="cell c-running"`, `class="cell c-missed"`, `id="no-timed"`)
	_, body, _ = r.get(r.c, "/jobs/frozen")
	wantContains(t, "frozen page", body, `id="no-runs"`)
	if strings.Contains(body, `id="strip"`) {
		t.Errorf("frozen, without runs, has a strip")
	}

	_, body, _ = r.get(r.c, "/")
	wantContains(t, "jobs page", body, `<th>Recent runs</th>`, `id="strip-note"`, "the last 20 runs of each job")
	row := func(job string) string {
		_, after, _ := strings.Cut(body, `<tr id="job-`+job+`"`)
		row, _, _ := strings.Cut(after, "</tr>")
		return row
	}
	if n := strings.Count(row("backup"), `<rect class="cell `); n != 3 {
		t.Errorf("jobs page: backup strip has %d cells, want 3", n)
	}
	if n := strings.Count(row("report"), `<rect class="cell `); n != 2 {
		t.Errorf("jobs page: report strip has %d cells, want 2", n)
	}
	if !strings.Contains(row("frozen"), "no runs yet") {
		t.Errorf("jobs page: frozen row %s", row("frozen"))
	}
}

// countingStore counts ListRuns calls.
type countingStore struct {
	storage.Store
	listRuns atomic.Int64
}

func (s *countingStore) ListRuns(ctx context.Context, f storage.RunFilter) ([]jobs.Run, error) {
	s.listRuns.Add(1)
	return s.Store.ListRuns(ctx, f)
}

// TestJobsListStripBound: a config with more jobs than MaxStripJobs costs
// the jobs list MaxStripJobs run queries, not one per job, and says so.
func TestJobsListStripBound(t *testing.T) {
	t.Parallel()
	h := apitest.NewHistory(t)
	var cfg strings.Builder
	cfg.WriteString(apitest.ConfigYAML)
	for i := 0; i < MaxStripJobs+5; i++ {
		fmt.Fprintf(&cfg, "  - {name: zz-%03d, schedule: \"@daily\", command: [\"/bin/true\"]}\n", i)
	}
	config := apitest.MustConfig(t, cfg.String())
	st := &countingStore{Store: h.Store}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clk := clock.NewFake(apitest.Now)
	svc := api.NewService(api.ServiceOptions{Store: st, Config: func() *jobs.Config { return config }, NodeID: "node-a",
		LeaseState: func() string { return api.LeaseLeader }, Clock: clk, Logger: log})
	d, err := New(Options{Service: svc, Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("jobs page: %d", rec.Code)
	}
	if n := st.listRuns.Load(); n != MaxStripJobs {
		t.Errorf("jobs list of %d jobs made %d run queries, want %d", len(config.Jobs), n, MaxStripJobs)
	}
	body := rec.Body.String()
	wantContains(t, "jobs page", body, fmt.Sprintf("drawn for the first %d jobs only", MaxStripJobs),
		`<rect class="cell c-succeeded"`, `<tr id="job-zz-104"`)
	// backup (first by name) has its strip; the last jobs link to their page.
	_, last, _ := strings.Cut(body, `<tr id="job-zz-104"`)
	last, _, _ = strings.Cut(last, "</tr>")
	if strings.Contains(last, "<svg") {
		t.Errorf("job beyond the bound has a strip: %s", last)
	}
}
