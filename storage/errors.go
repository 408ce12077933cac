package storage

import "errors"

// Errors returned by every Store, Queue and Lease implementation; driver
// errors are translated to these at the edge.
var (
	// ErrNotFound: no such run, job or row.
	ErrNotFound = errors.New("storage: not found")
	// ErrDuplicate: a unique key already holds that value.
	ErrDuplicate = errors.New("storage: duplicate")
	// ErrFenced: the caller's leader epoch is no longer the stored one (I2).
	ErrFenced = errors.New("storage: fenced: leader epoch changed")
	// ErrNotClaimed: the run was not queued, not due, or not what the
	// caller may run (I4, I7).
	ErrNotClaimed = errors.New("storage: run not claimed")
	// ErrLeaseLost: the attempt or leader lease is no longer held.
	ErrLeaseLost = errors.New("storage: lease lost")
	// ErrConflict: the run is in a state that does not allow the change.
	ErrConflict = errors.New("storage: conflicting run state")
	// ErrClosed: the queue or store was closed.
	ErrClosed = errors.New("storage: closed")
)
