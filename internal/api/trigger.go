package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// Limits of triggers and backfills.
const (
	// MaxTriggerAhead bounds how far ahead trigger --at may set a run.
	MaxTriggerAhead = 366 * 24 * time.Hour
	// MaxTriggerPast bounds how far in the past trigger --at may be; a
	// time in the past within it runs now, an older one is refused (a
	// wrong date, more likely than a wish).
	MaxTriggerPast = 24 * time.Hour
	// MaxBackfillTicks bounds the ticks of one backfill.
	MaxBackfillTicks = 100_000
	// DefaultBackfillMaxConcurrent is a backfill's max_concurrent when
	// the request sets none: a backfill queued all at once would wait in
	// the queue longer than --dispatch-timeout and fail unclaimed.
	DefaultBackfillMaxConcurrent = 64
	// maxBackfillCount bounds how far a range too large is counted for
	// its error message.
	maxBackfillCount = 10 * MaxBackfillTicks
)

// TriggerRequest is the optional JSON body of POST /jobs/{name}/trigger.
type TriggerRequest struct {
	// Params set the job's declared parameters; the others get their
	// defaults.
	Params map[string]string `json:"params,omitempty"`
	// At is when the run is due: RFC 3339, or +DURATION from now (+10m,
	// +1d2h); empty means now.
	At string `json:"at,omitempty"`
}

// BackfillRequest is the JSON body of POST /jobs/{name}/backfill.
type BackfillRequest struct {
	// From and To bound the range of ticks, both inclusive: RFC 3339, a
	// duration before now (24h, 7d), or "now" (To only).
	From string `json:"from"`
	To   string `json:"to"`
	// MaxConcurrent bounds the backfill's runs queued or running at once;
	// 0 means no bound of its own (mind --dispatch-timeout); nil means
	// DefaultBackfillMaxConcurrent.
	MaxConcurrent *int `json:"max_concurrent,omitempty"`
	// DryRun computes the answer without writing anything.
	DryRun bool `json:"dry_run,omitempty"`
	// Actor says who asked; the API sets it from the request.
	Actor string `json:"-"`
}

// Backfill is the answer of a backfill.
type Backfill struct {
	storage.BackfillResult
	Job  string    `json:"job"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Ticks counts the job's ticks in [From, To].
	Ticks         int  `json:"ticks"`
	MaxConcurrent int  `json:"max_concurrent"`
	DryRun        bool `json:"dry_run"`
}

// ParseAt reads the due time of a trigger: empty is now; +DURATION is
// that long after now; else an RFC 3339 time. A time up to
// MaxTriggerPast ago is due now; older, or more than MaxTriggerAhead
// ahead, is an error naming param.
func ParseAt(param, s string, now time.Time) (time.Time, error) {
	now = now.UTC()
	if s == "" || s == "now" {
		return now, nil
	}
	var at time.Time
	if rest, ok := strings.CutPrefix(s, "+"); ok {
		d, err := jobs.ParseDuration(rest)
		if err != nil || d < 0 {
			return time.Time{}, paramError(param, "%s is not +DURATION (+10m, +1d2h)", quote(s))
		}
		at = now.Add(d)
	} else {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, paramError(param, "%s is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor +DURATION (+10m)", quote(s))
		}
		at = t.UTC()
	}
	switch {
	case at.Before(now.Add(-MaxTriggerPast)):
		return time.Time{}, paramError(param, "%s is more than %s in the past", quote(s), "24h")
	case at.After(now.Add(MaxTriggerAhead)):
		return time.Time{}, paramError(param, "%s is more than %s ahead", quote(s), "366 days")
	case at.Before(now):
		return now, nil
	}
	return at, nil
}

// paramsError turns a *jobs.ParamError into a 400 naming params.NAME.
func paramsError(err error) error {
	var pe *jobs.ParamError
	if errors.As(err, &pe) {
		return paramError("params."+pe.Param, "%s", pe.Reason)
	}
	return paramError("params", "%v", err)
}

// TriggerWith records a manual run of a job of this node's config with
// req's params, due at req.At; the leader queues it once due (at once,
// if now and the leader is this node). The params are checked against
// this node's definition of the job: nothing is stored when they do not
// fit.
func (s *Service) TriggerWith(ctx context.Context, name string, req TriggerRequest) (jobs.Run, error) {
	if err := CheckJobName("name", name); err != nil {
		return jobs.Run{}, err
	}
	j := s.opts.Config().Job(name)
	if j == nil {
		return jobs.Run{}, unknownJob(name)
	}
	if _, err := j.Params.Resolve(req.Params); err != nil {
		return jobs.Run{}, paramsError(err)
	}
	now := s.Now().UTC()
	at, err := ParseAt("at", req.At, now)
	if err != nil {
		return jobs.Run{}, err
	}
	params := req.Params
	if len(params) == 0 {
		params = nil
	}
	run, err := call(ctx, s, "trigger", func(ctx context.Context) (jobs.Run, error) {
		return s.opts.Store.TriggerRun(ctx, storage.TriggerParams{Job: name, At: at, Now: now, Params: params})
	})
	if err != nil {
		return jobs.Run{}, err
	}
	if !at.After(now) {
		s.wake()
	}
	s.log.Info("manual trigger", slog.String("job", name), slog.Int64("run_id", run.ID),
		slog.Time("due", at), slog.Int("params", len(params)))
	return run, nil
}

// BackfillTicks returns j's ticks in [from, to], ascending. More than
// MaxBackfillTicks is an error giving the count (or a lower bound of it).
func BackfillTicks(j *jobs.Job, from, to time.Time) ([]time.Time, error) {
	var ticks []time.Time
	n := 0
	for t := j.Next(from.Add(-time.Nanosecond)); !t.IsZero() && !t.After(to); t = j.Next(t) {
		n++
		if n <= MaxBackfillTicks {
			ticks = append(ticks, t)
		}
		if n >= maxBackfillCount {
			return nil, paramError("from", "the range holds more than %d ticks of %s (at most %d); narrow it", maxBackfillCount, quote(j.Schedule), MaxBackfillTicks)
		}
	}
	if n > MaxBackfillTicks {
		return nil, paramError("from", "the range holds %d ticks of %s, more than %d; narrow it or split it", n, quote(j.Schedule), MaxBackfillTicks)
	}
	return ticks, nil
}

// Backfill creates a run with trigger backfill for each tick of the job's
// schedule in [req.From, req.To] that has none (see storage.Store.Backfill),
// or with DryRun says what it would do. To must not be in the future.
func (s *Service) Backfill(ctx context.Context, name string, req BackfillRequest) (Backfill, error) {
	if err := CheckJobName("name", name); err != nil {
		return Backfill{}, err
	}
	j := s.opts.Config().Job(name)
	if j == nil {
		return Backfill{}, unknownJob(name)
	}
	now := s.Now().UTC()
	if req.From == "" {
		return Backfill{}, paramError("from", "missing (RFC 3339 time or a duration ago)")
	}
	if req.To == "" {
		return Backfill{}, paramError("to", "missing (RFC 3339 time, a duration ago, or now)")
	}
	from, err := parseWhen("from", req.From, now)
	if err != nil {
		return Backfill{}, err
	}
	to := now
	if req.To != "now" {
		if to, err = parseWhen("to", req.To, now); err != nil {
			return Backfill{}, err
		}
	}
	switch {
	case to.After(now):
		return Backfill{}, paramError("to", "%s is in the future; the scheduler runs future ticks", to.Format(time.RFC3339))
	case from.After(to):
		return Backfill{}, paramError("from", "%s is after to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	case req.MaxConcurrent != nil && *req.MaxConcurrent < 0:
		return Backfill{}, paramError("max_concurrent", "must not be negative")
	}
	maxConcurrent := DefaultBackfillMaxConcurrent
	if req.MaxConcurrent != nil {
		maxConcurrent = *req.MaxConcurrent
	}
	ticks, err := BackfillTicks(j, from, to)
	if err != nil {
		return Backfill{}, err
	}
	if len(ticks) == 0 {
		return Backfill{}, paramError("from", "no tick of %s from %s to %s", quote(j.Schedule), from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	out := Backfill{Job: name, From: from, To: to, Ticks: len(ticks), MaxConcurrent: maxConcurrent, DryRun: req.DryRun}
	if req.DryRun {
		out.BackfillResult, err = s.backfillPreview(ctx, name, from, to, ticks)
		return out, err
	}
	res, err := call(ctx, s, "backfill", func(ctx context.Context) (storage.BackfillResult, error) {
		// The backfill is its first and last tick: "7d" to "now" asked
		// twice within a tick is the same backfill.
		return s.opts.Store.Backfill(ctx, storage.BackfillParams{Job: name, From: ticks[0], To: ticks[len(ticks)-1], Ticks: ticks,
			MaxConcurrent: maxConcurrent, Actor: req.Actor, Now: now})
	})
	if errors.Is(err, storage.ErrNotFound) {
		return out, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("job %s has no schedule cursor yet: no leader has scheduled it; start a replica with it and try again", quote(name)), Err: err}
	}
	if err != nil {
		return out, err
	}
	out.BackfillResult = res
	s.wake()
	s.log.Info("backfill", slog.String("job", name), slog.Int64("backfill_id", res.ID), slog.Time("from", from), slog.Time("to", to),
		slog.Int("created", res.Created), slog.Int("present", res.Present), slog.Int("left_to_scheduler", res.LeftToScheduler))
	return out, nil
}

// backfillPreview is what Backfill would do, read from history: the rows
// that hold ticks of the range, and the job's cursor.
func (s *Service) backfillPreview(ctx context.Context, name string, from, to time.Time, ticks []time.Time) (storage.BackfillResult, error) {
	res := storage.BackfillResult{PresentByStatus: map[jobs.RunStatus]int{}}
	states, err := call(ctx, s, "job_states", s.opts.Store.JobStates)
	if err != nil {
		return res, err
	}
	st := states[name]
	if st.Cursor.IsZero() {
		// A job whose cursor its tick rows prove has no job_state row yet
		// (Store.Backfill reads both): its newest tick row is the cursor.
		recent, err := call(ctx, s, "list_runs", func(ctx context.Context) ([]jobs.Run, error) {
			return s.opts.Store.ListRuns(ctx, storage.RunFilter{Job: name, Limit: MaxRunLimit})
		})
		if err != nil {
			return res, err
		}
		for _, r := range recent {
			if holdsTick(r.Trigger) && r.ScheduledAt.After(st.Cursor) {
				st.Cursor = r.ScheduledAt
			}
		}
	}
	if st.Cursor.IsZero() {
		return res, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("job %s has no schedule cursor yet: no leader has scheduled it; start a replica with it and try again", quote(name)), Err: storage.ErrNotFound}
	}
	res.Cursor = st.Cursor
	want := make(map[int64]bool, len(ticks))
	for _, t := range ticks {
		want[t.UnixMicro()] = true
	}
	held := map[int64]jobs.Run{}
	f := storage.RunFilter{Job: name, Since: from, Until: to.Add(time.Microsecond), Limit: MaxRunLimit}
	for read := 0; read <= 2*MaxBackfillTicks; {
		page, err := call(ctx, s, "list_runs", func(ctx context.Context) ([]jobs.Run, error) { return s.opts.Store.ListRuns(ctx, f) })
		if err != nil {
			return res, err
		}
		for _, r := range page {
			if k := r.ScheduledAt.UnixMicro(); holdsTick(r.Trigger) && want[k] {
				held[k] = r
			}
		}
		read += len(page)
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.Before = &storage.Cursor{ScheduledAt: last.ScheduledAt, ID: last.ID}
	}
	for _, t := range ticks {
		if t.After(st.Cursor) {
			res.LeftToScheduler++
			continue
		}
		r, ok := held[t.UnixMicro()]
		if !ok {
			res.Created++ // would be
			continue
		}
		res.Present++
		res.PresentByStatus[r.Status]++
		if len(res.Examples) < 5 {
			res.Examples = append(res.Examples, storage.BackfillTick{At: t, RunID: r.ID, Status: r.Status, Trigger: r.Trigger})
		}
	}
	return res, nil
}

// decodeBody reads an optional JSON body into v: none (or whitespace) leaves
// v as it is; unknown fields, a second value or a body over the cap are
// refused.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(r.Body)
	if !bodyRead(w, err) {
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		a.fail(w, paramError("body", "not the JSON object this call takes: %v", err))
		return false
	}
	if dec.More() {
		a.fail(w, paramError("body", "more than one JSON value"))
		return false
	}
	return true
}

func (a *API) backfillJob(w http.ResponseWriter, r *http.Request) {
	var req BackfillRequest
	if !a.decodeBody(w, r, &req) {
		return
	}
	req.Actor = storage.ActorFrom(r.Context()).Name + " via api " + r.RemoteAddr
	if ua := r.UserAgent(); ua != "" {
		req.Actor += " (" + ua + ")"
	}
	b, err := a.svc.Backfill(r.Context(), r.PathValue("name"), req)
	if err != nil {
		a.fail(w, err)
		return
	}
	status := http.StatusCreated
	if b.DryRun {
		status = http.StatusOK
	}
	writeJSON(w, status, b)
}

// holdsTick reports whether a run of trigger t holds its tick (I1).
func holdsTick(t jobs.Trigger) bool {
	return t == jobs.TriggerSchedule || t == jobs.TriggerCatchup || t == jobs.TriggerBackfill
}

// BackfillCancel is the answer of a backfill's cancel.
type BackfillCancel struct {
	ID int64 `json:"id"`
	// Canceled counts the runs the cancel ended (those still waiting).
	Canceled int `json:"canceled"`
}

// CancelBackfill cancels the runs of a backfill that still wait to be
// queued; its queued and running runs finish.
func (s *Service) CancelBackfill(ctx context.Context, id int64) (BackfillCancel, error) {
	n, err := call(ctx, s, "cancel_backfill", func(ctx context.Context) (int, error) {
		return s.opts.Store.CancelBackfill(ctx, id, s.Now().UTC())
	})
	if errors.Is(err, storage.ErrNotFound) {
		return BackfillCancel{}, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("backfill %d not found", id), Err: err}
	}
	if err != nil {
		return BackfillCancel{}, err
	}
	s.log.Info("backfill canceled", slog.Int64("backfill_id", id), slog.Int("runs", n))
	return BackfillCancel{ID: id, Canceled: n}, nil
}

func (a *API) cancelBackfill(w http.ResponseWriter, r *http.Request) {
	onID(a, w, r, a.svc.CancelBackfill)
}
