package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// dbTime scans a time column stored either as int64 Unix microseconds
// (SQLite) or as DATETIME (MySQL with parseTime); NULL leaves it invalid.
type dbTime struct {
	T     time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (d *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d = dbTime{}
	case int64:
		*d = dbTime{T: time.UnixMicro(v).UTC(), Valid: true}
	case time.Time:
		*d = dbTime{T: v.UTC(), Valid: true}
	case []byte:
		return d.parse(string(v))
	case string:
		return d.parse(v)
	default:
		return fmt.Errorf("scanning time column: unsupported type %T", src)
	}
	return nil
}

func (d *dbTime) parse(s string) error {
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, time.UTC)
	if err != nil {
		return fmt.Errorf("scanning time column: %w", err)
	}
	*d = dbTime{T: t, Valid: true}
	return nil
}

// ptr is the time as an optional value.
func (d dbTime) ptr() *time.Time {
	if !d.Valid {
		return nil
	}
	t := d.T
	return &t
}

// runCols are the runs columns runRow scans, in its order.
// The last three hold the running attempt (status running): its start,
// its lease and the leader epoch of its claim. The attempts table holds
// ended attempts only; GetRun shows the running one from these columns.
const runCols = "id, job, digest, scheduled_at, trig, status, attempt, max_attempts, node, " +
	"not_before, created_at, started_at, finished_at, exit_code, error, cancel_requested, " +
	"attempt_started_at, lease_until, attempt_epoch, shard, shard_total, pinned_node, run_on_labels, params, backfill_id, traceparent"

type runRow struct {
	ID              int64          `db:"id"`
	Job             string         `db:"job"`
	Digest          string         `db:"digest"`
	ScheduledAt     dbTime         `db:"scheduled_at"`
	Trigger         string         `db:"trig"`
	Status          string         `db:"status"`
	Attempt         int            `db:"attempt"`
	MaxAttempts     int            `db:"max_attempts"`
	Node            string         `db:"node"`
	NotBefore       dbTime         `db:"not_before"`
	CreatedAt       dbTime         `db:"created_at"`
	StartedAt       dbTime         `db:"started_at"`
	FinishedAt      dbTime         `db:"finished_at"`
	ExitCode        sql.NullInt64  `db:"exit_code"`
	Error           string         `db:"error"`
	CancelRequested bool           `db:"cancel_requested"`
	AttemptStarted  dbTime         `db:"attempt_started_at"`
	LeaseUntil      dbTime         `db:"lease_until"`
	AttemptEpoch    int64          `db:"attempt_epoch"`
	Shard           int            `db:"shard"`
	ShardTotal      int            `db:"shard_total"`
	PinnedNode      string         `db:"pinned_node"`
	RunOnLabels     string         `db:"run_on_labels"`
	Params          sql.NullString `db:"params"`
	BackfillID      sql.NullInt64  `db:"backfill_id"`
	Traceparent     sql.NullString `db:"traceparent"`
}

// heldAttempt is the attempt a running run holds, as the history shows
// it; false when the run is not running.
func (r runRow) heldAttempt() (jobs.Attempt, bool) {
	if jobs.RunStatus(r.Status) != jobs.StatusRunning {
		return jobs.Attempt{}, false
	}
	return jobs.Attempt{RunID: r.ID, Number: r.Attempt, Node: r.Node, Status: jobs.StatusRunning,
		StartedAt: r.AttemptStarted.T, LeaseUntil: r.LeaseUntil.T, Epoch: r.AttemptEpoch}, true
}

func (r runRow) run() jobs.Run {
	return jobs.Run{
		ID:              r.ID,
		Job:             r.Job,
		Digest:          r.Digest,
		ScheduledAt:     r.ScheduledAt.T,
		Trigger:         jobs.Trigger(r.Trigger),
		Status:          jobs.RunStatus(r.Status),
		Attempt:         r.Attempt,
		MaxAttempts:     r.MaxAttempts,
		Node:            r.Node,
		NotBefore:       r.NotBefore.T,
		CreatedAt:       r.CreatedAt.T,
		StartedAt:       r.StartedAt.ptr(),
		FinishedAt:      r.FinishedAt.ptr(),
		ExitCode:        intPtr(r.ExitCode),
		Error:           r.Error,
		CancelRequested: r.CancelRequested,
		Shard:           r.Shard,
		ShardTotal:      r.ShardTotal,
		PinnedNode:      r.PinnedNode,
		RunOnLabels:     r.RunOnLabels,
		Params:          decodeParams(r.Params),
		BackfillID:      r.BackfillID.Int64,
		Traceparent:     r.Traceparent.String,
	}
}

func runs(rows []runRow) []jobs.Run {
	out := make([]jobs.Run, len(rows))
	for i, r := range rows {
		out[i] = r.run()
	}
	return out
}

// attemptCols are the attempts columns attemptRow scans.
const attemptCols = "run_id, number, node, status, started_at, finished_at, lease_until, " +
	"exit_code, error, output, output_dropped, epoch"

type attemptRow struct {
	RunID         int64         `db:"run_id"`
	Number        int           `db:"number"`
	Node          string        `db:"node"`
	Status        string        `db:"status"`
	StartedAt     dbTime        `db:"started_at"`
	FinishedAt    dbTime        `db:"finished_at"`
	LeaseUntil    dbTime        `db:"lease_until"`
	ExitCode      sql.NullInt64 `db:"exit_code"`
	Error         string        `db:"error"`
	Output        string        `db:"output"`
	OutputDropped int64         `db:"output_dropped"`
	Epoch         int64         `db:"epoch"`
}

func (a attemptRow) attempt() jobs.Attempt {
	return jobs.Attempt{
		RunID:         a.RunID,
		Number:        a.Number,
		Node:          a.Node,
		Status:        jobs.RunStatus(a.Status),
		StartedAt:     a.StartedAt.T,
		FinishedAt:    a.FinishedAt.ptr(),
		LeaseUntil:    a.LeaseUntil.T,
		ExitCode:      intPtr(a.ExitCode),
		Error:         a.Error,
		Output:        a.Output,
		OutputDropped: a.OutputDropped,
		Epoch:         a.Epoch,
	}
}

// nodeCols are the nodes columns nodeRow scans.
const nodeCols = "id, host, role, version, digest, started_at, heartbeat, clock_offset_us, clock_rtt_us, labels"

type nodeRow struct {
	ID        string `db:"id"`
	Host      string `db:"host"`
	Role      string `db:"role"`
	Version   string `db:"version"`
	Digest    string `db:"digest"`
	StartedAt dbTime `db:"started_at"`
	Heartbeat dbTime `db:"heartbeat"`
	OffsetUS  int64  `db:"clock_offset_us"`
	RTTUS     int64  `db:"clock_rtt_us"`
	Labels    string `db:"labels"`
}

func (n nodeRow) node() storage.Node {
	out := storage.Node{ID: n.ID, Host: n.Host, Role: n.Role, Version: n.Version, Digest: n.Digest,
		StartedAt: n.StartedAt.T, Heartbeat: n.Heartbeat.T,
		ClockOffset: time.Duration(n.OffsetUS) * time.Microsecond, ClockRTT: time.Duration(n.RTTUS) * time.Microsecond}
	// Labels were checked when the node started; a row that does not
	// parse (edited by hand) shows none rather than failing the listing.
	out.Labels, _ = jobs.ParseLabels(n.Labels)
	return out
}

func intPtr(v sql.NullInt64) *int {
	if !v.Valid {
		return nil
	}
	i := int(v.Int64)
	return &i
}

// nullInt is the column value of an optional int.
func nullInt(v *int) any {
	if v == nil {
		return nil
	}
	return int64(*v)
}

// encodeParams is the params column of a run: a JSON object, NULL for none.
func encodeParams(p map[string]string) any {
	if len(p) == 0 {
		return nil
	}
	b, err := json.Marshal(p) // a map of strings always encodes
	if err != nil {
		return nil
	}
	return text(string(b))
}

// decodeParams reads the params column; a value that is not a JSON object
// of strings (it cannot be, unless edited by hand) reads as none.
func decodeParams(v sql.NullString) map[string]string {
	if !v.Valid || v.String == "" {
		return nil
	}
	var p map[string]string
	if json.Unmarshal([]byte(v.String), &p) != nil || len(p) == 0 {
		return nil
	}
	return p
}

// maxTraceparent is the width of the traceparent column; a W3C version 00
// traceparent is 55 characters.
const maxTraceparent = 128

// traceparentArg is the traceparent column's value: NULL for none, and for
// one too long to be a traceparent (tracing never fails a dispatch).
func traceparentArg(tp string) any {
	if tp == "" || len(tp) > maxTraceparent {
		return nil
	}
	return tp
}
