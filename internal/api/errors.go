package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tock-sched/tock/storage"
)

// Causes of Service errors, for errors.Is; storage.ErrNotFound (no such run)
// and storage.ErrConflict (the run already finished) are the others.
var (
	// ErrUnknownJob: the job is not defined in this node's config.
	ErrUnknownJob = errors.New("api: job not defined in this node's config")
	// ErrBadParam: a request parameter is malformed or out of range.
	ErrBadParam = errors.New("api: bad parameter")
	// ErrStore: a store call failed; the details are logged, not shown.
	ErrStore = errors.New("api: store call failed")
)

// Error is a Service error: the HTTP status it maps to, a message safe to
// show to a client, and the cause.
type Error struct {
	Status int
	Msg    string
	// Param names the request parameter at fault, for a 400.
	Param string
	Err   error
}

// Error returns the client-safe message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// paramError is a 400 naming the parameter.
func paramError(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Param: param, Msg: param + ": " + fmt.Sprintf(format, args...), Err: ErrBadParam}
}

func unknownJob(name string) *Error {
	return &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("job %s is not defined in this node's config", quote(name)), Err: ErrUnknownJob}
}

// storeError hides err from the client: 503 when the store did not answer
// in time, 500 otherwise.
func storeError(err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Status: http.StatusServiceUnavailable, Msg: "the store did not answer in time; try again", Err: errors.Join(ErrStore, err)}
	}
	return &Error{Status: http.StatusInternalServerError, Msg: "internal error: a store call failed (see the server log)", Err: errors.Join(ErrStore, err)}
}

// quote shows a client's value in a message: quoted, and cut so that a huge
// value does not come back huge.
func quote(s string) string {
	const max = 64
	r := []rune(s)
	if len(r) > max {
		return fmt.Sprintf("%q…", string(r[:max]))
	}
	return fmt.Sprintf("%q", s)
}

// StatusOf maps an error of a Service method to an HTTP status code and a
// message safe to show to the client.
func StatusOf(err error) (int, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Msg
	}
	if errors.Is(err, storage.ErrNotFound) {
		return http.StatusNotFound, "not found"
	}
	return http.StatusInternalServerError, "internal error (see the server log)"
}
