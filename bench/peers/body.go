package peers

import (
	"io"
	"net/http"
	"time"

	"github.com/tock-sched/tock/bench/stats"
)

// Body is what a peer's job does at each run.
//
// The zero Body only records when the job function started: the
// scheduler's own overhead, with a body that does nothing. With Call set,
// the run's body is Call (job i's HTTP GET to the benchmark's sink, naming
// the tick it fired for), and the latencies are the sink's arrivals in
// Seen: the same body, stamped the same way, as tock's http jobs.
type Body struct {
	Call func(i int, tick time.Time)
	Seen *stats.Ticks
}

// HTTPBody is a Body that GETs urlOf(i) with client, the tick in an
// X-Tock-Scheduled-At header as tock sends it; seen receives the sink's
// stamps.
func HTTPBody(client *http.Client, urlOf func(i int) string, seen *stats.Ticks) Body {
	return Body{Seen: seen, Call: func(i int, tick time.Time) {
		req, err := http.NewRequest(http.MethodGet, urlOf(i), nil)
		if err != nil {
			return
		}
		req.Header.Set("X-Tock-Scheduled-At", tick.UTC().Format(time.RFC3339Nano))
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}}
}

// run runs job i's body for tick, recording into own when the body is the
// no-op one.
func (b Body) run(i int, tick, start time.Time, own *stats.Ticks) {
	if b.Call != nil {
		b.Call(i, tick)
		return
	}
	own.ObserveAt(i, tick, start)
}

// ticks is where the run's latencies are read: the sink's or own.
func (b Body) ticks(own *stats.Ticks) *stats.Ticks {
	if b.Call != nil {
		return b.Seen
	}
	return own
}

// label is the note's word for the body.
func (b Body) label() string {
	if b.Call != nil {
		return "HTTP GET to the sink, stamped on arrival"
	}
	return "no-op body"
}
