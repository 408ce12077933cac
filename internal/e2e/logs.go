package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Log messages of tock that the fault kit and the benchmark read from the
// replicas' JSON logs. MsgAttemptStarted, and MsgAttemptFinished of a
// succeeded attempt, are debug lines: replicas that must log them run with
// --log-level debug (the harness's replicas do). Their time is the replica's time.Now(), which the
// tockfault clock skew does not shift: it is true time, like the job
// bodies' timestamps.
const (
	// MsgElected: a replica began a leadership term (epoch).
	MsgElected = "elected leader"
	// MsgAttemptLeaseExpired: the leader's reaper marked an attempt lost
	// (run_id, attempt), logged just after the transaction committed.
	MsgAttemptLeaseExpired = "attempt lease expired"
	// MsgAttemptFinished: a worker recorded an attempt's result (run_id,
	// attempt), logged just after the store accepted it: the moment the
	// result became durable.
	MsgAttemptFinished = "attempt finished"
	// MsgAttemptStopped: a worker stopped an attempt whose lease was
	// taken away (run_id, attempt), after its process group ended.
	MsgAttemptStopped = "attempt stopped: its lease was taken away"
	// MsgAttemptStarted: a worker started an attempt's process.
	MsgAttemptStarted = "attempt started"
	// MsgSteppedDown: a leader's term ended (epoch, reason).
	MsgSteppedDown = "stepped down"
	// MsgScheduleLoaded: a leader built its schedule, at the start of its
	// term (term_start true) or after a config reload (false).
	MsgScheduleLoaded = "schedule loaded"
	// MsgStandbyBuilt: a standby built the schedule it keeps warm.
	MsgStandbyBuilt = "standby schedule built"
)

// LogEvent is one line of a replica's JSON log.
type LogEvent struct {
	// Replica is the replica whose log it is.
	Replica string
	Time    time.Time
	Msg     string
	Job     string
	RunID   int64
	Attempt int
	Epoch   int64
	Status  string
	Reason  string
	// FireDelay is how late after its scheduled time a worker started the
	// attempt (MsgAttemptStarted); 0 on other events.
	FireDelay time.Duration
}

type logLine struct {
	Time    time.Time `json:"time"`
	Msg     string    `json:"msg"`
	Job     string    `json:"job"`
	RunID   int64     `json:"run_id"`
	Attempt int       `json:"attempt"`
	Epoch   int64     `json:"epoch"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason"`
	// FireDelay is text ("1.5ms"): tock logs durations with String. Raw,
	// so that a line with another form is still read.
	FireDelay json.RawMessage `json:"fire_delay"`
}

// ReadLogEvents returns the events of a replica's log whose message is one
// of msgs (all when none is given). Lines that are not JSON (the harness's
// own, a panic) are skipped.
func ReadLogEvents(path, replica string, msgs ...string) ([]LogEvent, error) {
	var out []LogEvent
	err := scanLog(path, replica, msgs, nil, func(ev LogEvent) bool {
		out = append(out, ev)
		return true
	})
	return out, err
}

// ScanLogEvents is ReadLogEvents without holding the events: it calls f
// for each in the order of the log, and stops when f returns false. For
// logs too long to keep, e.g. a benchmark's millions of attempts.
func ScanLogEvents(path, replica string, f func(LogEvent) bool, msgs ...string) error {
	return scanLog(path, replica, msgs, nil, f)
}

// FindLogEvent returns the first event of the log at path whose message is
// msg, whose time is not before from and whose line contains every one of
// contains (raw JSON text, e.g. `"term_start":false`); false if there is
// none (yet), also when the log does not exist.
func FindLogEvent(path, msg string, from time.Time, contains ...string) (LogEvent, bool, error) {
	var found LogEvent
	var ok bool
	err := scanLog(path, "", []string{msg}, contains, func(ev LogEvent) bool {
		if ev.Time.Before(from) {
			return true
		}
		found, ok = ev, true
		return false
	})
	return found, ok, err
}

// WaitLogEvent polls the log at path every 50ms until FindLogEvent finds
// the event, or ctx ends.
func WaitLogEvent(ctx context.Context, path, msg string, from time.Time, contains ...string) (LogEvent, error) {
	var ev LogEvent
	err := Poll(ctx, 50*time.Millisecond, func(context.Context) (bool, error) {
		var ok bool
		var err error
		ev, ok, err = FindLogEvent(path, msg, from, contains...)
		return ok, err
	})
	if err != nil {
		return LogEvent{}, fmt.Errorf("waiting for %q in %s: %w", msg, path, err)
	}
	return ev, nil
}

// scanLog calls f for the JSON lines of the log at path whose message is
// one of msgs (any when none is given) and that contain every one of
// contains, until f returns false. A log that does not exist is empty.
func scanLog(path, replica string, msgs, contains []string, f func(LogEvent) bool) error {
	fh, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer fh.Close()
	want := map[string]bool{}
	for _, m := range msgs {
		want[m] = true
	}
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
lines:
	for sc.Scan() {
		b := sc.Bytes()
		if len(b) == 0 || b[0] != '{' {
			continue
		}
		if len(want) > 0 {
			found := false
			for m := range want {
				if bytes.Contains(b, []byte(`"msg":"`+m+`"`)) {
					found = true
					break
				}
			}
			if !found {
				continue
			}
		}
		for _, c := range contains {
			if !bytes.Contains(b, []byte(c)) {
				continue lines
			}
		}
		var l logLine
		if json.Unmarshal(b, &l) != nil {
			continue
		}
		if len(want) > 0 && !want[l.Msg] {
			continue
		}
		ev := LogEvent{Replica: replica, Time: l.Time, Msg: l.Msg, Job: l.Job, RunID: l.RunID,
			Attempt: l.Attempt, Epoch: l.Epoch, Status: l.Status, Reason: l.Reason}
		var delay string
		if json.Unmarshal(l.FireDelay, &delay) == nil {
			ev.FireDelay, _ = time.ParseDuration(delay)
		}
		if !f(ev) {
			return nil
		}
	}
	return sc.Err()
}

// LogEvents returns the events of every replica's log whose message is one
// of msgs (all when none is given), replica by replica.
func (c *Cluster) LogEvents(msgs ...string) ([]LogEvent, error) {
	var out []LogEvent
	for _, r := range c.replicas {
		ev, err := ReadLogEvents(r.LogPath, r.Name, msgs...)
		if err != nil {
			return nil, err
		}
		out = append(out, ev...)
	}
	return out, nil
}
