package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// sseReader reads Server-Sent Events from a response body.
type sseReader struct {
	t  *testing.T
	sc *bufio.Scanner
}

type sseEventRead struct {
	name, id, data string
	comment        bool
}

// next returns the next event or comment.
func (r *sseReader) next() sseEventRead {
	r.t.Helper()
	var ev sseEventRead
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if ev != (sseEventRead{}) {
				return ev
			}
		case strings.HasPrefix(line, ":"):
			return sseEventRead{comment: true, data: line}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, "retry: "):
		default:
			r.t.Fatalf("unexpected stream line %q", line)
		}
	}
	r.t.Fatalf("stream ended: %v", r.sc.Err())
	return ev
}

func (f *fixture) flush(out string) {
	f.t.Helper()
	if err := f.store.FlushOutput(context.Background(), storage.OutputParams{RunID: f.running, Attempt: 1, Node: "node-a",
		LiveOutput: storage.LiveOutput{Output: out}}); err != nil {
		f.t.Fatal(err)
	}
}

// poll lets the stream's next read of the store happen.
func (f *fixture) poll() {
	<-f.clock.BlockUntil(1)
	f.clock.Advance(DefaultLogPoll)
}

func TestRunLogsJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	var l RunLogs
	do(t, http.MethodGet, fmt.Sprintf("%s/api/v1/runs/%d/logs", srv.URL, f.running), "", nil, &l)
	if l.Ended || l.Attempt != 1 || l.Status != jobs.StatusRunning || l.Output != "" {
		t.Fatalf("logs of a running attempt before any flush = %+v", l)
	}
	f.flush("one\n")
	do(t, http.MethodGet, fmt.Sprintf("%s/api/v1/runs/%d/logs", srv.URL, f.running), "", nil, &l)
	if l.Ended || l.Output != "one\n" || l.Bytes != 4 {
		t.Fatalf("logs after a flush = %+v", l)
	}
	do(t, http.MethodGet, fmt.Sprintf("%s/api/v1/runs/%d/logs", srv.URL, f.succeeded), "", nil, &l)
	if !l.Ended || l.Status != jobs.StatusSucceeded {
		t.Fatalf("logs of a succeeded run = %+v", l)
	}
	var e ErrorBody
	resp := do(t, http.MethodGet, fmt.Sprintf("%s/api/v1/runs/%d/logs", srv.URL, 987654), "", nil, &e)
	if resp.StatusCode != http.StatusNotFound || e.Error != "run 987654 not found" {
		t.Fatalf("unknown run: %d %+v", resp.StatusCode, e)
	}
	resp = do(t, http.MethodGet, fmt.Sprintf("%s/api/v1/runs/%d/logs?attempt=3", srv.URL, f.succeeded), "", nil, &e)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(e.Error, "has no attempt 3") {
		t.Fatalf("unknown attempt: %d %+v", resp.StatusCode, e)
	}
	resp = do(t, http.MethodGet, fmt.Sprintf("%s/api/v1/runs/%d/logs?attempt=x", srv.URL, f.succeeded), "", nil, &e)
	if resp.StatusCode != http.StatusBadRequest || e.Param != "attempt" {
		t.Fatalf("bad attempt: %d %+v", resp.StatusCode, e)
	}
}

// TestRunLogsStream: the stream sends the output as it reaches the store,
// only new bytes, keeps an idle stream alive, and ends with the final
// output and state once the attempt ended.
func TestRunLogsStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{ReadToken: "reader", Token: "operator"})
	f.flush("one\n")
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/runs/%d/logs", srv.URL, f.running), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer reader") // reading suffices
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("answer %d %q, want an event stream", resp.StatusCode, ct)
	}
	r := &sseReader{t: t, sc: bufio.NewScanner(resp.Body)}
	chunk := func(wantText string, wantOffset int64) {
		t.Helper()
		ev := r.next()
		var c LogChunk
		if ev.name != "output" || json.Unmarshal([]byte(ev.data), &c) != nil {
			t.Fatalf("got %+v, want an output event", ev)
		}
		if c.Text != wantText || c.Offset != wantOffset || c.Attempt != 1 || ev.id != fmt.Sprint(c.Next) {
			t.Fatalf("got chunk %+v (id %s), want %q at %d", c, ev.id, wantText, wantOffset)
		}
	}
	chunk("one\n", 0)
	f.flush("one\ntwo\n")
	f.poll()
	chunk("two\n", 4)
	// Nothing new for longer than the keepalive.
	<-f.clock.BlockUntil(1)
	f.clock.Advance(streamKeepalive + time.Second)
	if ev := r.next(); !ev.comment {
		t.Fatalf("got %+v, want a keepalive comment", ev)
	}
	if _, err := f.store.Finish(context.Background(), storage.FinishParams{RunID: f.running, Attempt: 1, Node: "node-a",
		Status: jobs.StatusFailed, FinishedAt: t0, ExitCode: ptr(3), Error: "exit status 3", Output: "one\ntwo\nthree\n", Flushed: true}); err != nil {
		t.Fatal(err)
	}
	f.poll()
	chunk("three\n", 8)
	ev := r.next()
	var end RunLogs
	if ev.name != "end" || json.Unmarshal([]byte(ev.data), &end) != nil {
		t.Fatalf("got %+v, want the end event", ev)
	}
	if !end.Ended || end.Status != jobs.StatusFailed || end.ExitCode == nil || *end.ExitCode != 3 || end.Bytes != 14 {
		t.Fatalf("end = %+v", end)
	}
	if r.sc.Scan() {
		t.Fatalf("the stream went on after its end: %q", r.sc.Text())
	}
}

// TestRunLogsStreamResumes: a stream asked from an offset (Last-Event-ID,
// as EventSource reconnects) sends only what follows it.
func TestRunLogsStreamResumes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	f.flush("one\ntwo\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/runs/%d/logs?follow=1", srv.URL, f.running), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Last-Event-ID", "4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := &sseReader{t: t, sc: bufio.NewScanner(resp.Body)}
	ev := r.next()
	var c LogChunk
	if ev.name != "output" || json.Unmarshal([]byte(ev.data), &c) != nil || c.Text != "two\n" || c.Offset != 4 {
		t.Fatalf("got %+v, want two\\n from offset 4", ev)
	}
	// The client goes away: the handler ends (the test server's Close
	// waits for it, and goleak checks nothing is left).
	cancel()
}

func ptr[T any](v T) *T { return &v }
