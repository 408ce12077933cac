package storage

import (
	"context"
	"time"

	"github.com/tock-sched/tock/jobs"
)

// Store is the history and the source of truth for run state. Every method
// that changes a run commits the run and its attempt in one transaction (I6).
type Store interface {
	// Migrate brings the schema up to date. On a store that replicas
	// share (MySQL) it is safe to call from several processes at once;
	// the embedded SQLite store serves one process.
	Migrate(ctx context.Context) error
	// Ping checks the store answers.
	Ping(ctx context.Context) error
	// Now reads the store's clock: the cluster's time authority (I9).
	// MySQL answers NOW(6) in UTC; the embedded SQLite store answers the
	// process clock after a round trip to the database.
	Now(ctx context.Context) (time.Time, error)
	// Close releases the store's connections.
	Close() error

	// BumpEpoch increments leader_epoch in one transaction and returns the
	// new value; node is recorded as the leader (I2).
	BumpEpoch(ctx context.Context, node string) (int64, error)
	// Leader returns the node and epoch last recorded by BumpEpoch.
	Leader(ctx context.Context) (node string, epoch int64, err error)
	// Watermark returns the dispatch progress last recorded by a leader
	// (DispatchParams.Watermark); the zero value before any.
	Watermark(ctx context.Context) (Watermark, error)

	// ClaimLease takes the lease row for claim.Token when the row is free,
	// expired by the store's clock, or already claim.Token's (only the
	// last with claim.Renew), holding it
	// until the store's now plus claim.TTL, and returns the row as it is
	// afterwards: the claim won if and only if row.Token == claim.Token.
	// The lease row is the authority behind the Redis lease (a leader
	// holds both) and the lease itself while Redis is unreachable
	// (package storage/fallback).
	ClaimLease(ctx context.Context, claim LeaseClaim) (LeaseRow, error)
	// ReleaseLease frees the lease row if token holds it.
	ReleaseLease(ctx context.Context, token string) error
	// LeaseRow reads the lease row and the store's clock.
	LeaseRow(ctx context.Context) (LeaseRow, error)

	// JobStates returns the stored per-job state (cursor, paused) of every
	// job that has one.
	JobStates(ctx context.Context) (map[string]JobState, error)
	// PausedJobs returns the names of the jobs paused in the store (by
	// `tock pause` or the API); it reads only those rows, so the leader can
	// poll it every second whatever the number of jobs.
	PausedJobs(ctx context.Context) (map[string]bool, error)
	// SetPaused pauses or resumes a job cluster-wide.
	SetPaused(ctx context.Context, job string, paused bool) error

	// Dispatch inserts runs for due ticks in one transaction, after
	// checking that params.Epoch is still the stored leader epoch
	// (ErrFenced otherwise). Runs whose (job, scheduled_at) already exists
	// for a schedule-like trigger are left out (I1). Under the forbid policy
	// a run whose job still has a queued or running run is stored as
	// skipped; under replace the active runs get a cancel request. Cursors
	// advance each job's schedule cursor (never backwards). It returns the
	// runs that were inserted as queued, with their IDs, for enqueueing.
	//
	// A queued NewRun with Broadcast set becomes one row per shard, in the
	// same transaction: the live nodes (heartbeat at or after
	// params.LiveSince, role not scheduler) whose labels include
	// RunOnLabels, sorted by id, get shard 0..N-1 of N, each row pinned to
	// its node. The tick's key is (job, tick, shard), so I1 holds per
	// shard and a tick with any shard in history is left out whole. With
	// no matching live node the tick is one unpinned shard (0 of 1), which
	// any matching replica may claim and which fails after the dispatch
	// timeout if none does (FailUnclaimed). Concurrency policies act on
	// the tick, before it is split.
	Dispatch(ctx context.Context, params DispatchParams) ([]jobs.Run, error)
	// Trigger inserts a manual run in status scheduled, due at at; the
	// leader promotes it with PromoteScheduled. It is TriggerRun without
	// params, created at at.
	Trigger(ctx context.Context, job string, at time.Time) (jobs.Run, error)
	// TriggerRun inserts a manual run in status scheduled, due at
	// params.At (scheduled_at and not_before), carrying params.Params;
	// the leader promotes it with PromoteScheduled once due. The store
	// checks neither the job nor the params (it has no config).
	TriggerRun(ctx context.Context, params TriggerParams) (jobs.Run, error)
	// PromoteScheduled moves due scheduled runs to queued, stamping each
	// with its job's digest and attempt budget, under the fencing check:
	// manual runs whose due time has passed, and the runs of each backfill
	// in tick order, at most the backfill's MaxConcurrent minus its runs
	// already queued or running (no bound when 0), unless the backfill's
	// job is paused (params.Paused). A manual run's params
	// are resolved against the leader's definition (jobs.ParamSpec.Resolve)
	// and stored in full. Runs naming jobs absent from the leader's config,
	// or whose params it refuses, are failed with a reason.
	PromoteScheduled(ctx context.Context, params PromoteParams) ([]jobs.Run, error)
	// Backfill records a backfill of params.Job over [From, To] (once per
	// job and range: the same range again returns the same ID, with
	// MaxConcurrent updated) and inserts a scheduled run with trigger
	// backfill for each of params.Ticks that has no row yet, holding the
	// tick like a scheduled run (I1), in transactions of a bounded number
	// of ticks. Ticks that already have a row are counted by status, not
	// touched. Ticks after the job's schedule cursor (JobState.Cursor) are
	// left out and counted in LeftToScheduler: the scheduler accounts for
	// them. ErrNotFound (nothing written) when the job has no cursor yet.
	// Run again after a failure part-way, it creates exactly the rows
	// still missing.
	Backfill(ctx context.Context, params BackfillParams) (BackfillResult, error)
	// CancelBackfill cancels the backfill's runs still scheduled (its
	// queued and running ones finish) and returns how many; the backfill
	// run again creates none of them (their ticks have rows). ErrNotFound
	// for an unknown backfill.
	CancelBackfill(ctx context.Context, id int64, now time.Time) (int, error)

	// ResolveDeps decides, in one fenced transaction (ErrFenced like
	// Dispatch), the dependent runs of ended upstream runs
	// (docs/design.md#dependencies). It reads up to params.Limit terminal
	// runs still marked deps pending, oldest first; for each dependent of
	// each it inserts at most one row per (dependent job, dependency key),
	// the key being UNIQUE in the store: a queued run with trigger
	// dependency when every upstream's condition holds, or a terminal
	// skipped row whose error names the upstream that failed it. A fan-in
	// dependent whose other upstreams have no ended run of the tick yet
	// leaves the run waiting (read again at each call, after the new
	// ends), until that dependent is decided or waited its
	// catchup_window. Runs whose dependents are all decided are no longer pending,
	// in the same transaction, so a call repeated, concurrent or cut off by
	// a crash creates each dependent at most once and loses none. It
	// returns the queued runs inserted, for enqueueing.
	ResolveDeps(ctx context.Context, params DepsParams) ([]jobs.Run, error)

	// ClaimMany moves, in one transaction, each run of params to running
	// and opens its next attempt with a lease, if and only if it is still
	// queued, due, and its job and digest match (I4, I7), and returns the
	// claimed runs in the order of params. Runs it cannot claim (someone
	// else has them, or they are not what the caller may run) are left
	// out, without an error. A run that requires labels is claimed only if
	// the param's Labels include them, and a shard pinned to a node only by
	// that node. All params of one call must share Node, Now and
	// LeaseUntil (an error otherwise). A run named twice is claimed at
	// most once. No params: nil, nil. Each attempt is stamped with the
	// leader epoch read in the claim's transaction (Attempt.Epoch), and the
	// returned run carries it in Run.Epoch, so that Run.Fence is the
	// attempt's fencing token.
	ClaimMany(ctx context.Context, params []ClaimParams) ([]jobs.Run, error)
	// ClaimDue claims, without doorbells, up to params.Limit queued runs
	// due by params.Horizon that params.Accept takes (its config defines
	// the job with that digest) and the node may run (labels, pins), in
	// due order, in one transaction, exactly as ClaimMany would claim them.
	// Workers use it while the queue (Redis) is unreachable. It reads the
	// queued rows with FOR UPDATE SKIP LOCKED where the engine has it, so
	// replicas polling together take different runs instead of waiting on
	// each other.
	ClaimDue(ctx context.Context, params ClaimDueParams) ([]jobs.Run, error)
	// Heartbeat extends a running attempt's lease. It returns whether a
	// cancel was requested, and ErrLeaseLost if the attempt is no longer
	// running on this node. With params.Output set it also stores that
	// output as FlushOutput would, in the same transaction.
	Heartbeat(ctx context.Context, params HeartbeatParams) (cancel bool, err error)
	// FlushOutput stores the output a running attempt captured so far
	// (live output), replacing what the attempt stored before, if and only
	// if the attempt is still running on params.Node (fenced like
	// Heartbeat); ErrLeaseLost, changing nothing, otherwise. GetRun shows
	// it as the running attempt's output. Finish and FinishMany replace it
	// with the final output (deleting it when FinishParams.Flushed says
	// there is some), and ReapExpired and RecoverNode keep it as the lost
	// attempt's output.
	FlushOutput(ctx context.Context, params OutputParams) error
	// Finish closes an attempt and sets the run's state in one transaction:
	// terminal, or back to queued (not before params.RetryAt) when a retry
	// remains. ErrLeaseLost if the attempt was reaped meanwhile.
	Finish(ctx context.Context, params FinishParams) (jobs.Run, error)
	// FinishMany closes many attempts in one transaction, each exactly as
	// Finish would, and returns one result per param, in order. An item
	// that Finish would refuse (ErrLeaseLost, a status that is not final)
	// gets its error in its result and changes nothing; the others commit
	// together. An error of the whole transaction (connection, deadlock
	// after retries) is returned with no results: nothing was changed. No
	// params: nil, nil.
	FinishMany(ctx context.Context, params []FinishParams) ([]FinishResult, error)

	// ReapExpired marks running attempts whose lease ended before now as
	// lost, requeueing their runs when attempts remain (with backoff) and
	// failing them otherwise. A requeued shard loses its pin: its retry
	// goes to any live matching replica. Fenced like Dispatch.
	ReapExpired(ctx context.Context, params ReapParams) ([]jobs.Run, error)
	// RecoverNode marks every running attempt of node lost (used at start
	// when the node's previous process died) and requeues or fails their
	// runs like ReapExpired.
	RecoverNode(ctx context.Context, node string, now time.Time) ([]jobs.Run, error)
	// DueQueued lists queued runs whose not_before has passed and that were
	// last enqueued before enqueuedBefore, and stamps them as enqueued now;
	// the caller pushes them onto the queue again (I4: the queue is only a
	// doorbell).
	DueQueued(ctx context.Context, now, enqueuedBefore time.Time, limit int) ([]jobs.Run, error)
	// FailUnclaimed fails queued runs created before createdBefore that no
	// worker claimed, with a reason naming job and digest, and for a run
	// that requires labels, the labels ("no live replica matches run_on
	// labels zone=a").
	FailUnclaimed(ctx context.Context, createdBefore, now time.Time) ([]jobs.Run, error)
	// ReleasePins releases the pin of queued shards whose pinned node is
	// not live (no heartbeat since params.LiveSince), so that any matching
	// replica may claim them, stamps them enqueued now and returns them
	// for their doorbells. Fenced like Dispatch. (A lost attempt releases
	// its shard's pin in ReapExpired and RecoverNode already.)
	ReleasePins(ctx context.Context, params ReleaseParams) ([]jobs.Run, error)
	// RequestCancel cancels a queued or scheduled run at once, or asks the
	// worker of a running one to stop it. ErrNotFound for an unknown id;
	// ErrConflict if the run already finished.
	RequestCancel(ctx context.Context, id int64, now time.Time) (jobs.Run, error)

	// ListRuns returns runs matching the filter, newest first, with keyset
	// pagination on (scheduled_at, id) descending via filter.Before.
	ListRuns(ctx context.Context, filter RunFilter) ([]jobs.Run, error)
	// ListAudit returns audit rows matching filter, newest first by id
	// (keyset paging with filter.BeforeID, at most MaxAuditLimit). The
	// audited methods (TriggerRun, Trigger, SetPaused, RequestCancel,
	// Backfill, CancelBackfill) write their row, with the actor of their
	// context (WithActor), in the transaction of the change.
	ListAudit(ctx context.Context, filter AuditFilter) ([]AuditEntry, error)
	// PruneAudit deletes audit rows older than params.Before and beyond
	// the newest params.Keep (at most AuditKeep are ever kept), in batches,
	// and returns how many it deleted. The leader calls it every prune
	// round, also when run history is kept forever.
	PruneAudit(ctx context.Context, params AuditPruneParams) (int64, error)
	// RecordAudit writes one audit row for a change made outside the
	// store (a replica loading or reloading its config), with the actor
	// of ctx; rec.Detail is marshaled to JSON.
	RecordAudit(ctx context.Context, rec AuditRecord) error
	// GetRun returns one run with all its attempts (output and epoch
	// included), and the run's upstream and downstream runs
	// (Run.UpstreamRuns, Run.DownstreamRuns).
	GetRun(ctx context.Context, id int64) (jobs.Run, []jobs.Attempt, error)
	// LastRuns returns the newest run of each job.
	LastRuns(ctx context.Context) (map[string]jobs.Run, error)

	// UpsertNode records a node's heartbeat and facts.
	UpsertNode(ctx context.Context, n Node) error
	// Nodes lists nodes seen since the given time.
	Nodes(ctx context.Context, since time.Time) ([]Node, error)

	// Prune deletes terminal runs that finished before params.Before and
	// are not among the newest params.KeepPerJob runs of their job, with
	// their attempts, in transactions of at most params.Batch runs, and
	// returns how many runs it deleted (also when it stops part-way on an
	// error or the end of ctx). Scheduled, queued and running runs are
	// never deleted. It is not fenced: it touches only terminal rows, which
	// nothing changes any more, so an ex-leader still pruning does no harm.
	Prune(ctx context.Context, params PruneParams) (int64, error)
}

// LeaseClaim asks for the lease row.
type LeaseClaim struct {
	// Node and Backend are recorded with the claim: who leads, and by
	// which lease ("redis", or "mysql" while Redis is unreachable).
	Node, Backend string
	// Token identifies the claimant's term; it must not be empty.
	Token string
	// TTL is how long the row stays claimed, in the store's clock.
	TTL time.Duration
	// Renew extends only a claim Token already holds (expired or not): a
	// row that is free or another's is left as it is.
	Renew bool
}

// LeaseRow is the lease row; a zero Token means nobody ever claimed it or
// its holder released it.
type LeaseRow struct {
	Node, Backend, Token string
	// Until is when the claim expires, in the store's clock.
	Until time.Time
	// Now is the store's clock when the row was read.
	Now time.Time
}

// Held reports whether someone holds the row at its Now.
func (r LeaseRow) Held() bool { return r.Token != "" && r.Until.After(r.Now) }

// JobState is the state of a job kept in the store so that every replica
// sees it.
type JobState struct {
	Job    string
	Paused bool
	// Cursor is the last schedule tick accounted for (dispatched, missed or
	// skipped). Zero for a job never scheduled.
	Cursor time.Time
}

// NewRun is a run to insert by Dispatch.
type NewRun struct {
	Job         string
	Digest      string
	ScheduledAt time.Time
	Trigger     jobs.Trigger
	// Status is queued for a run, missed or skipped for a terminal row.
	Status      jobs.RunStatus
	MaxAttempts int
	NotBefore   time.Time
	// Error is the reason of a missed or skipped row.
	Error       string
	Concurrency jobs.ConcurrencyPolicy
	// RunOnLabels are the labels (text form) a replica must carry to claim
	// the run: the job's run_on.labels.
	RunOnLabels string
	// Broadcast makes Dispatch store a queued row as one row per shard:
	// one per live node (DispatchParams.LiveSince) that matches
	// RunOnLabels, each pinned to its node (see Store.Dispatch).
	Broadcast bool
	// DepsPending says the job has dependents in the leader's config: once
	// the run ends, ResolveDeps decides them.
	DepsPending bool
	// Traceparent is the W3C traceparent of the leader's dispatch span,
	// stored with the row (every shard of a broadcast gets it) and
	// returned with the run by the claims; "" stores none.
	Traceparent string
}

// DispatchParams are the arguments of Store.Dispatch.
type DispatchParams struct {
	Epoch   int64
	Now     time.Time
	Runs    []NewRun
	Cursors map[string]time.Time
	// Watermark, when set, is recorded in the same transaction: with the
	// runs and cursors of this call, every tick up to Watermark.At of the
	// schedule Watermark.Schedule is accounted for.
	Watermark *Watermark
	// LiveSince: nodes whose last heartbeat is at or after it are live,
	// for the shards of broadcast runs.
	LiveSince time.Time
}

// Watermark is a leader's dispatch progress: every tick at or before At of
// every job of the schedule whose digest is Schedule has its row in history
// (or was deliberately left out by a reload). A standby holding the same
// schedule, followed since before At, takes over from At without reading
// every job's cursor (warm standby).
type Watermark struct {
	At       time.Time
	Schedule string
}

// PromoteParams are the arguments of Store.PromoteScheduled.
type PromoteParams struct {
	Epoch int64
	Now   time.Time
	// Job returns a job's definition in the leader's config, nil if it has
	// none (jobs.Config.Job).
	Job func(name string) *jobs.Job
	// Dependents returns the jobs whose after list names a job in the
	// leader's config (jobs.Config.Dependents); a promoted run of a job
	// with dependents is marked deps pending. Nil: none has.
	Dependents func(name string) []*jobs.Job
	// Paused reports whether a job is paused (in the store or the
	// leader's config): its backfills wait until it is resumed. Nil: none
	// is.
	Paused func(name string) bool
	// Traceparent, when set, is called for each run the promotion queues,
	// inside its transaction, and its answer (a W3C traceparent, or "")
	// is written on the run's row with the promotion, like a dispatch's
	// (NewRun.Traceparent). A transaction retried after a transient error
	// calls it again for the same runs.
	Traceparent func(run jobs.Run) string
}

// DepsParams are the arguments of Store.ResolveDeps.
type DepsParams struct {
	Epoch int64
	Now   time.Time
	// Dependents returns the jobs whose after list names a job in the
	// leader's config (jobs.Config.Dependents). A pending run of a job
	// without dependents is resolved without creating anything.
	Dependents func(name string) []*jobs.Job
	// Job returns a job's definition in the leader's config, nil if none
	// (jobs.Config.Job): a fan-in does not wait for an upstream's run of
	// a tick that the upstream's schedule does not have.
	Job func(name string) *jobs.Job
	// Paused reports whether a job is paused (config or store); a paused
	// dependent gets a skipped row. Nil: none is.
	Paused func(name string) bool
	// Limit bounds the runs one call reads, once for runs that ended
	// since the last call and once for runs a fan-in waits on; 0 means
	// the store's default.
	Limit int
}

// TriggerParams are the arguments of Store.TriggerRun.
type TriggerParams struct {
	Job string
	// At is when the run is due.
	At time.Time
	// Now is the creation time; zero means At.
	Now time.Time
	// Params are the parameters the trigger sets, as given (checked by
	// the caller against its config, and by the leader when it promotes
	// the run).
	Params map[string]string
}

// BackfillParams are the arguments of Store.Backfill.
type BackfillParams struct {
	Job string
	// From and To bound the range, both inclusive; they identify the
	// backfill with Job.
	From, To time.Time
	// Ticks are the job's schedule ticks in [From, To], ascending.
	Ticks []time.Time
	// MaxConcurrent bounds the backfill's runs queued or running at once;
	// 0 means no bound beyond the worker pools.
	MaxConcurrent int
	// Actor says who asked (recorded on a new backfill).
	Actor string
	Now   time.Time
}

// BackfillResult is what Store.Backfill did.
type BackfillResult struct {
	ID int64 `json:"id"`
	// Created counts the runs inserted by this call.
	Created int `json:"created"`
	// Present counts the ticks that already had a row, of any trigger;
	// PresentByStatus splits them by the row's status.
	Present         int                    `json:"present"`
	PresentByStatus map[jobs.RunStatus]int `json:"present_by_status"`
	// Examples are a few of the present ticks' rows, earliest first.
	Examples []BackfillTick `json:"examples"`
	// LeftToScheduler counts ticks after the job's schedule cursor,
	// Cursor: not created, since the scheduler accounts for them.
	LeftToScheduler int       `json:"left_to_scheduler"`
	Cursor          time.Time `json:"cursor"`
}

// BackfillTick is a tick of a backfill and the row that holds it.
type BackfillTick struct {
	At      time.Time      `json:"at"`
	RunID   int64          `json:"run_id"`
	Status  jobs.RunStatus `json:"status"`
	Trigger jobs.Trigger   `json:"trigger"`
}

// ClaimParams are the arguments of each item of Store.ClaimMany.
type ClaimParams struct {
	// Horizon, when after Now, lets a run whose not_before is up to
	// Horizon be claimed ahead; its attempt starts at its not_before (the
	// worker waits until then). Zero means Now.
	Horizon    time.Time
	RunID      int64
	Job        string
	Digest     string
	Node       string
	Now        time.Time
	LeaseUntil time.Time
	// Labels are the claiming node's labels: a run that requires labels
	// (Run.RunOnLabels) is claimed only by a node carrying them all.
	Labels jobs.Labels
}

// ClaimDueParams are the arguments of Store.ClaimDue.
type ClaimDueParams struct {
	Node   string
	Labels jobs.Labels
	Now    time.Time
	// Horizon, when after Now, lets runs due up to it be claimed ahead, as
	// in ClaimParams.
	Horizon    time.Time
	LeaseUntil time.Time
	// Limit bounds the runs claimed; it must be positive.
	Limit int
	// Accept says whether the caller takes a run of job with digest (its
	// config defines it so, and it has room for it). It may be called
	// again for the same run when the transaction is retried.
	Accept func(runID int64, job, digest string) bool
}

// ReleaseParams are the arguments of Store.ReleasePins.
type ReleaseParams struct {
	Epoch int64
	Now   time.Time
	// LiveSince: a node whose last heartbeat is before it is not live.
	LiveSince time.Time
}

// HeartbeatParams are the arguments of Store.Heartbeat.
type HeartbeatParams struct {
	RunID      int64
	Attempt    int
	Node       string
	LeaseUntil time.Time
	// Output, when set, is live output to store with the heartbeat (see
	// Store.FlushOutput).
	Output *LiveOutput
}

// LiveOutput is the output a running attempt captured so far, rendered
// as an ended attempt's (head and tail kept within the output cap, the
// middle counted in Dropped: I8).
type LiveOutput struct {
	Output  string
	Dropped int64
}

// OutputParams are the arguments of Store.FlushOutput.
type OutputParams struct {
	RunID   int64
	Attempt int
	Node    string
	LiveOutput
}

// FinishParams are the arguments of Store.Finish and of each item of
// Store.FinishMany.
type FinishParams struct {
	RunID         int64
	Attempt       int
	Node          string
	Status        jobs.RunStatus
	FinishedAt    time.Time
	ExitCode      *int
	Error         string
	Output        string
	OutputDropped int64
	// Flushed says the attempt stored live output (FlushOutput, or a
	// Heartbeat with output), or may have: Finish deletes it.
	Flushed bool
	// RetryAt, when set and attempts remain, sends the run back to queued
	// (trigger unchanged) not before that time instead of ending it.
	RetryAt *time.Time
}

// FinishResult is the outcome of one item of Store.FinishMany: the run as
// Finish would return it, or the error Finish would return.
type FinishResult struct {
	Run jobs.Run
	Err error
}

// ReapParams are the arguments of Store.ReapExpired.
type ReapParams struct {
	Epoch int64
	Now   time.Time
	// Backoff gives the delay before the next attempt of a reaped run.
	Backoff func(run jobs.Run) time.Duration
}

// PruneParams are the arguments of Store.Prune. A run is deleted only if it
// matches both rules: finished before Before, and beyond the newest
// KeepPerJob runs of its job.
type PruneParams struct {
	// Before: only runs that finished before it are deleted.
	Before time.Time
	// KeepPerJob keeps the newest KeepPerJob runs (by id) of each job,
	// however old; 0 keeps none by count.
	KeepPerJob int
	// Batch bounds the runs deleted per transaction; 0 means the store's
	// default, and a store may cap it.
	Batch int
	// Limit, when positive, makes Prune return once it deleted Limit runs,
	// so that the caller can pause between rounds; 0 deletes every run
	// that is due.
	Limit int
}

// RunFilter selects runs for ListRuns.
type RunFilter struct {
	Job     string
	Status  jobs.RunStatus
	Trigger jobs.Trigger
	Since   time.Time
	Until   time.Time
	// Before is the keyset cursor: only runs strictly older than it.
	Before *Cursor
	Limit  int
}

// Cursor is a keyset position in run history.
type Cursor struct {
	ScheduledAt time.Time
	ID          int64
}

// Node is a replica's membership record.
type Node struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	Role      string    `json:"role"`
	Version   string    `json:"version"`
	Digest    string    `json:"config_digest"`
	StartedAt time.Time `json:"started_at"`
	Heartbeat time.Time `json:"heartbeat"`
	// ClockOffset is the node's measured offset of the store's clock to
	// its own (store minus local; I9), and ClockRTT the round trip of the
	// sample it was measured with.
	ClockOffset time.Duration `json:"clock_offset_ns"`
	ClockRTT    time.Duration `json:"clock_rtt_ns"`
	// Labels are the node's --labels; a restart changes them.
	Labels jobs.Labels `json:"labels,omitempty"`
}
