package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/storage"
)

// streamRetries bounds how many times in a row FollowLogs reconnects a
// log stream that broke before its end, and streamRetryPause how long it
// waits before each.
const (
	streamRetries    = 5
	streamRetryPause = time.Second
)

// Logs calls GET /runs/{id}/logs.
func (c *HTTP) Logs(ctx context.Context, id int64, attempt int) (api.RunLogs, error) {
	var l api.RunLogs
	if err := checkRunID(id); err != nil {
		return l, err
	}
	err := c.call(ctx, http.MethodGet, logsPath(id), logsQuery(attempt, -1), storage.ErrNotFound, &l)
	return l, err
}

func logsPath(id int64) string { return "/runs/" + strconv.FormatInt(id, 10) + "/logs" }

func logsQuery(attempt int, offset int64) url.Values {
	q := url.Values{}
	if attempt > 0 {
		q.Set("attempt", strconv.Itoa(attempt))
	}
	if offset >= 0 {
		q.Set("follow", "1")
		q.Set("offset", strconv.FormatInt(offset, 10))
	}
	return q
}

// FollowLogs reads the Server-Sent Events stream of GET
// /runs/{id}/logs?follow=1. A stream that breaks before its end is
// reconnected from the last offset received, with the attempt fixed.
func (c *HTTP) FollowLogs(ctx context.Context, id int64, attempt int, emit func(api.LogEvent) error) error {
	if err := checkRunID(id); err != nil {
		return err
	}
	var from int64
	failures := 0
	for {
		progressed, err := c.stream(ctx, id, attempt, from, func(ev api.LogEvent) error {
			if ev.Output != nil {
				attempt, from = ev.Output.Attempt, ev.Output.Next
			}
			return emit(ev)
		})
		var ae *api.Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, new(emitError)):
			return errors.Unwrap(err)
		case ctx.Err() != nil, errors.As(err, &ae):
			return err
		}
		if progressed {
			failures = 0
		}
		if failures++; failures > streamRetries {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(streamRetryPause):
		}
	}
}

// emitError is an error of the caller's emit: returned as it is, not
// retried.
type emitError struct{ error }

func (e emitError) Unwrap() error { return e.error }

// stream follows one connection of the log stream until its end event
// (nil), a refusal (*api.Error) or a broken connection; progressed says
// whether it got any event.
func (c *HTTP) stream(ctx context.Context, id int64, attempt int, from int64, emit func(api.LogEvent) error) (progressed bool, err error) {
	what := "GET " + api.Prefix + logsPath(id)
	target := c.base + api.Prefix + logsPath(id) + "?" + logsQuery(attempt, from).Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", c.agent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// The stream lasts as long as the attempt: no overall timeout (the
	// transport still bounds connecting and the answer's headers).
	hc := *c.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Errorf("calling %s on %s: %w", what, c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return false, answerError(resp.StatusCode, jsonType(resp.Header.Get("Content-Type")), body, storage.ErrNotFound, what)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return false, fmt.Errorf("%s: %w (Content-Type %q); is the server URL right?", what, ErrNotAPI, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	// An event carries at most a chunk of one attempt's capped output.
	sc.Buffer(make([]byte, 64<<10), int(c.maxBody))
	var name, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && name != "":
			progressed = true
			done, err := streamEvent(name, data, emit)
			if done || err != nil {
				return progressed, err
			}
			name, data = "", ""
		}
	}
	if err := sc.Err(); err != nil {
		return progressed, fmt.Errorf("reading the stream of %s: %w", what, err)
	}
	return progressed, fmt.Errorf("the stream of %s ended before the attempt did", what)
}

// streamEvent hands one event to emit; done is true after the end event.
func streamEvent(name, data string, emit func(api.LogEvent) error) (done bool, err error) {
	decode := func(v any) error {
		if err := json.Unmarshal([]byte(data), v); err != nil {
			return fmt.Errorf("decoding a %s event: %w", name, errors.Join(ErrNotAPI, err))
		}
		return nil
	}
	var ev api.LogEvent
	switch name {
	case "output":
		ev.Output = &api.LogChunk{}
		if err := decode(ev.Output); err != nil {
			return false, err
		}
	case "end":
		ev.End = &api.RunLogs{}
		if err := decode(ev.End); err != nil {
			return false, err
		}
	case "error":
		var eb api.ErrorBody
		if err := decode(&eb); err != nil {
			return false, err
		}
		return false, &api.Error{Status: http.StatusServiceUnavailable, Msg: "the server ended the stream: " + eb.Error, Err: ErrServer}
	default:
		return false, nil // a kind this client does not know
	}
	if err := emit(ev); err != nil {
		return false, emitError{err}
	}
	return ev.End != nil, nil
}
