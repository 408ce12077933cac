package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"time"
)

// Log messages of tock that the fault kit reads from the replicas' JSON
// logs. Their time is the replica's time.Now(), which the tockfault clock
// skew does not shift: it is true time, like the job bodies' timestamps.
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
}

// ReadLogEvents returns the events of a replica's log whose message is one
// of msgs (all when none is given). Lines that are not JSON (the harness's
// own, a panic) are skipped.
func ReadLogEvents(path, replica string, msgs ...string) ([]LogEvent, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string]bool{}
	for _, m := range msgs {
		want[m] = true
	}
	var out []LogEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
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
		var l logLine
		if json.Unmarshal(b, &l) != nil {
			continue
		}
		if len(want) > 0 && !want[l.Msg] {
			continue
		}
		out = append(out, LogEvent{Replica: replica, Time: l.Time, Msg: l.Msg, Job: l.Job, RunID: l.RunID,
			Attempt: l.Attempt, Epoch: l.Epoch, Status: l.Status, Reason: l.Reason})
	}
	return out, sc.Err()
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
