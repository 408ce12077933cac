package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// DefaultLogPoll is how often a followed attempt's output is read from the
// store (ServiceOptions.LogPoll); workers write it every --output-flush.
const DefaultLogPoll = 500 * time.Millisecond

// RunLogs is the output of one attempt of a run as the store has it: while
// the attempt runs, what its worker flushed so far (live output); once it
// ended, its final output. GET /api/v1/runs/{id}/logs answers it.
type RunLogs struct {
	RunID     int64          `json:"run_id"`
	Job       string         `json:"job"`
	RunStatus jobs.RunStatus `json:"run_status"`
	// Attempt is the attempt's number, from 1; 0 while the run has none
	// yet (it waits in the queue).
	Attempt int `json:"attempt"`
	// Status is the attempt's status; the run's while it has none.
	Status jobs.RunStatus `json:"status"`
	// Ended is true once the attempt ended (or the run ended without one):
	// Output is final.
	Ended    bool   `json:"ended"`
	ExitCode *int   `json:"exit_code"`
	Error    string `json:"error"`
	Output   string `json:"output"`
	// OutputDropped counts bytes cut from the middle of Output (I8).
	OutputDropped int64 `json:"output_dropped"`
	// Bytes is how many bytes the job wrote so far, kept or not
	// (jobs.OutputBytes): the offset a follower reads on from.
	Bytes int64 `json:"bytes"`
}

// LogChunk is new output of a followed attempt: the bytes the job wrote
// from Offset to Next, with a jobs.DroppedMarker for any that were cut
// from the middle (jobs.OutputSince).
type LogChunk struct {
	Attempt int    `json:"attempt"`
	Offset  int64  `json:"offset"`
	Next    int64  `json:"next"`
	Text    string `json:"text"`
}

// LogEvent is what a follow of an attempt's output reports: new output,
// or its end (the attempt's final state; output already reported), or
// neither when a read found nothing new (a stream may send a keepalive).
type LogEvent struct {
	Output *LogChunk
	End    *RunLogs
}

// Logs returns the output of attempt (0: the latest) of run id.
// ErrNotFound for an unknown run, a 404 naming the attempt for an attempt
// the run does not have.
func (s *Service) Logs(ctx context.Context, id int64, attempt int) (RunLogs, error) {
	if attempt < 0 {
		return RunLogs{}, paramError("attempt", "%d is not an attempt number (want 1 or more)", attempt)
	}
	d, err := s.Run(ctx, id)
	if err != nil {
		return RunLogs{}, err
	}
	l := RunLogs{RunID: id, Job: d.Run.Job, RunStatus: d.Run.Status, Status: d.Run.Status, Ended: d.Run.Status.Terminal()}
	var a *jobs.Attempt
	for i := range d.Attempts {
		if attempt == 0 || d.Attempts[i].Number == attempt {
			a = &d.Attempts[i]
		}
	}
	switch {
	case a != nil:
		l.Attempt, l.Status, l.Ended = a.Number, a.Status, a.Status != jobs.StatusRunning
		l.ExitCode, l.Error, l.Output, l.OutputDropped = a.ExitCode, a.Error, a.Output, a.OutputDropped
		l.Bytes = jobs.OutputBytes(a.Output, a.OutputDropped)
	case attempt > 0 && (attempt > d.Run.Attempt+1 || l.Ended):
		return RunLogs{}, &Error{Status: http.StatusNotFound, Err: storage.ErrNotFound,
			Msg: fmt.Sprintf("run %d has no attempt %d (it has %d)", id, attempt, len(d.Attempts))}
	case attempt > 0:
		// The run's next attempt: it has not started yet.
		l.Attempt, l.Ended = attempt, false
	default:
		l.Error, l.ExitCode = d.Run.Error, d.Run.ExitCode
	}
	return l, nil
}

// FollowLogs reads the output of attempt (0: the latest, fixed once the
// run has one) of run id every LogPoll and calls emit with the bytes the
// job wrote from offset from on, as they reach the store, until the
// attempt ends: then with the rest of its final output and its end. It
// returns nil after the end, ctx's error when ctx ends first, or the
// first error of a read or of emit (an unknown run before any event).
func (s *Service) FollowLogs(ctx context.Context, id int64, attempt int, from int64, emit func(LogEvent) error) error {
	for {
		l, err := s.Logs(ctx, id, attempt)
		if err != nil {
			return err
		}
		if attempt == 0 && l.Attempt > 0 {
			attempt = l.Attempt
		}
		ev := LogEvent{}
		text, next := jobs.OutputSince(l.Output, l.OutputDropped, from, l.Ended)
		if text != "" {
			ev.Output = &LogChunk{Attempt: l.Attempt, Offset: from, Next: next, Text: text}
		}
		from = next
		if err := emit(ev); err != nil {
			return err
		}
		if l.Ended {
			l.Output = ""
			return emit(LogEvent{End: &l})
		}
		if !clock.Sleep(ctx, s.opts.Clock, s.opts.LogPoll) {
			return ctx.Err()
		}
	}
}

// logsQuery reads the attempt and offset of a logs request.
func logsQuery(r *http.Request) (attempt int, from int64, err error) {
	q := r.URL.Query()
	if v := q.Get("attempt"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, paramError("attempt", "%s is not an attempt number (want 1 or more)", quote(v))
		}
		attempt = n
	}
	// EventSource sends the last id it saw when it reconnects.
	v := q.Get("offset")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		v = id
	}
	if v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, paramError("offset", "%s is not a byte offset (want 0 or more)", quote(v))
		}
		from = n
	}
	return attempt, from, nil
}

// errStreamClosed ends the streams of a server shutting down.
var errStreamClosed = errors.New("api: server shutting down")

// streamKeepalive is how long a log stream may stay silent before it
// sends a comment, so that proxies and load balancers keep it open.
const streamKeepalive = 15 * time.Second

// LogStreams serves an attempt's output over HTTP, for the API and the
// dashboard: as JSON, or, with ?follow=1 or Accept: text/event-stream, as
// a Server-Sent Events stream of its new output ("output" events, id the
// next offset) that ends with an "end" event once the attempt ended.
// Every stream is owned by its request: it ends when the attempt ends,
// the client goes away, or Close is called (server shutdown).
type LogStreams struct {
	svc   *Service
	log   *slog.Logger
	ctx   context.Context
	close context.CancelFunc
}

// NewLogStreams returns LogStreams reading svc.
func NewLogStreams(svc *Service, log *slog.Logger) *LogStreams {
	ctx, cancel := context.WithCancel(context.Background())
	return &LogStreams{svc: svc, log: log, ctx: ctx, close: cancel}
}

// Close ends every stream in flight and any opened later.
func (ls *LogStreams) Close() { ls.close() }

// ServeHTTP answers GET …/runs/{id}/logs.
func (ls *LogStreams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) { writeFailure(ls.log, w, err) }
	id, err := ParseRunID("id", r.PathValue("id"))
	if err != nil {
		fail(err)
		return
	}
	attempt, from, err := logsQuery(r)
	if err != nil {
		fail(err)
		return
	}
	follow := r.URL.Query().Get("follow")
	if follow != "" && follow != "0" && follow != "1" && follow != "true" && follow != "false" {
		fail(paramError("follow", "%s: want 1 or 0", quote(follow)))
		return
	}
	stream := follow == "1" || follow == "true" || follow == "" && acceptsEventStream(r)
	// An unknown run or attempt is a plain error answer, before any stream.
	l, err := ls.svc.Logs(r.Context(), id, attempt)
	if err != nil {
		fail(err)
		return
	}
	if !stream {
		writeJSON(w, http.StatusOK, l)
		return
	}
	ls.stream(w, r, id, attempt, from)
}

// acceptsEventStream reports whether the client asked for an event stream.
func acceptsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// streamLogs sends the log stream; it returns when the attempt ended, the
// client went away or the server shuts down.
func (ls *LogStreams) stream(w http.ResponseWriter, r *http.Request, id int64, attempt int, from int64) {
	rc := http.NewResponseController(w)
	// The server's write timeout bounds answers, not a stream that lasts
	// as long as the attempt.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	stop := context.AfterFunc(ls.ctx, func() { cancel(errStreamClosed) })
	defer stop()
	last := ls.svc.Now()
	send := func(s string) error {
		if _, err := io.WriteString(w, s); err != nil {
			return err
		}
		last = ls.svc.Now()
		return rc.Flush()
	}
	// Reconnect after 2s if the connection drops (EventSource).
	if err := send("retry: 2000\n\n"); err != nil {
		return
	}
	err := ls.svc.FollowLogs(ctx, id, attempt, from, func(ev LogEvent) error {
		switch {
		case ev.Output != nil:
			return send(sseEvent("output", strconv.FormatInt(ev.Output.Next, 10), ev.Output))
		case ev.End != nil:
			return send(sseEvent("end", "", ev.End))
		case ls.svc.Now().Sub(last) >= streamKeepalive:
			return send(": keepalive\n\n")
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		// The stream has begun: say why it ends, in its own terms.
		_, msg := StatusOf(err)
		_ = send(sseEvent("error", "", ErrorBody{Error: msg}))
	}
}

// sseEvent renders one Server-Sent Event with a JSON data line.
func sseEvent(name, id string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"encoding the event failed"}`)
	}
	s := "event: " + name + "\n"
	if id != "" {
		s += "id: " + id + "\n"
	}
	return s + "data: " + string(b) + "\n\n"
}

// CloseStreams ends every log stream in flight, so that a server shutting
// down does not wait for attempts to end; the httpserver calls it.
func (a *API) CloseStreams() { a.logs.Close() }
