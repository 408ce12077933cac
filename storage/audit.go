package storage

import (
	"context"
	"time"
)

// Sources of an audited action.
const (
	SourceCLI       = "cli"
	SourceAPI       = "api"
	SourceDashboard = "dashboard"
	// SourceConfig marks a replica applying its config file: at start,
	// and on each reload (SIGHUP or the file watcher).
	SourceConfig = "config"
	// SourceInternal marks a change made without an actor in its context
	// (a test, or code that forgot to name one).
	SourceInternal = "internal"
)

// Audited actions: one per mutating store method that records one.
const (
	ActionTrigger        = "trigger"
	ActionPause          = "pause"
	ActionResume         = "resume"
	ActionCancel         = "cancel"
	ActionBackfill       = "backfill"
	ActionCancelBackfill = "cancel_backfill"
	// ActionConfigLoad is a replica starting with a config; ActionConfigReload
	// one applying a changed file, ActionConfigReloadFailed one refusing
	// an invalid file (it keeps the config it had). Recorded with
	// RecordAudit under the actor config:NODE.
	ActionConfigLoad         = "config_load"
	ActionConfigReload       = "config_reload"
	ActionConfigReloadFailed = "config_reload_failed"
)

// DefaultAuditLimit and MaxAuditLimit bound a ListAudit page.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditKeep is the most audit rows a store keeps: PruneAudit deletes older
// rows beyond it even when no age bound is set, so the table is never
// unbounded.
const AuditKeep = 100_000

// AuditPruneParams are the arguments of Store.PruneAudit.
type AuditPruneParams struct {
	// Before, when set, deletes the rows recorded before it.
	Before time.Time
	// Keep keeps at most the newest Keep rows; 0 or more than AuditKeep
	// means AuditKeep.
	Keep int
	// Batch bounds the rows deleted per transaction; 0 means the store's
	// default.
	Batch int
}

// Actor is who asks for a change: the name of an API token, or
// cli:<user>@<host> for the command line on the store, and where the
// request came from (one of the Source constants).
type Actor struct {
	Name   string `json:"name"`
	Source string `json:"source"`
}

type actorKey struct{}

// WithActor returns ctx carrying a: the mutating store methods that are
// audited (TriggerRun, Trigger, SetPaused, RequestCancel, Backfill,
// CancelBackfill) record it in the audit table in the same transaction
// as the change.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor of ctx, or {"unknown", SourceInternal} when
// there is none: a change is audited either way.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok && a.Name != "" {
		if a.Source == "" {
			a.Source = SourceInternal
		}
		return a
	}
	return Actor{Name: "unknown", Source: SourceInternal}
}

// AuditRecord is an audit row RecordAudit writes: what was done to what,
// with a short detail object.
type AuditRecord struct {
	Action string
	Target string
	Detail any
}

// AuditEntry is one row of the audit table: a change that committed.
type AuditEntry struct {
	ID int64 `json:"id"`
	// At is the store's clock when the change was written (I9).
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Source string    `json:"source"`
	Action string    `json:"action"`
	// Target is what the action changed: job/NAME, run/ID, backfill/ID or
	// config/FILE.
	Target string `json:"target"`
	// Detail is a short JSON object: the run a trigger created and its
	// time and params, a backfill's range, a cancel's outcome.
	Detail string `json:"detail"`
}

// AuditFilter selects audit rows for ListAudit, newest first by id.
type AuditFilter struct {
	// Since keeps rows at or after it (store clock); zero keeps all.
	Since time.Time
	// BeforeID is the keyset cursor: only rows with a smaller id.
	BeforeID int64
	// Limit is the page size: 0 means DefaultAuditLimit; at most
	// MaxAuditLimit.
	Limit int
}
