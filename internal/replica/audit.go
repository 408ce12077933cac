package replica

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// configAuditTimeout bounds writing a config change to the audit trail: a
// store that does not answer costs the reload no more than this.
const configAuditTimeout = 10 * time.Second

// configErrorMax bounds the error text of a refused file in the audit
// detail (the row's detail holds 4 KB; the full error is in the log).
const configErrorMax = 1024

// configAudit is the detail of a config audit row.
type configAudit struct {
	Node string `json:"node"`
	// File is the config file as the replica was given it.
	File string `json:"file"`
	// Digest is the config in force after the change: the new one, or the
	// one kept when the file was refused.
	Digest string `json:"digest"`
	// From is the digest replaced by a reload.
	From string `json:"from,omitempty"`
	Jobs int    `json:"jobs"`
	*jobs.ConfigDiff
	Error string `json:"error,omitempty"`
}

// configChanged records in the audit trail that this replica started with
// a config (prev nil, action load), applied a changed file, or refused an
// invalid one, under the actor config:NODE. A store that cannot be written
// is logged: the change itself has happened either way.
func (r *Replica) configChanged(action string, prev, cfg *jobs.Config, err error) {
	d := configAudit{Node: r.opts.NodeID, File: r.opts.ConfigPath}
	switch {
	case err != nil:
		action = storage.ActionConfigReloadFailed
		if prev != nil {
			d.Digest, d.Jobs = prev.Digest, len(prev.Jobs)
		}
		d.Error = err.Error()
		if len(d.Error) > configErrorMax {
			d.Error = d.Error[:configErrorMax] + "…"
		}
	case prev == nil:
		d.Digest, d.Jobs = cfg.Digest, len(cfg.Jobs)
	default:
		diff := cfg.Diff(prev)
		d.Digest, d.From, d.Jobs, d.ConfigDiff = cfg.Digest, prev.Digest, len(cfg.Jobs), &diff
	}
	ctx, cancel := context.WithTimeout(context.Background(), configAuditTimeout)
	defer cancel()
	ctx = storage.WithActor(ctx, storage.Actor{Name: "config:" + r.opts.NodeID, Source: storage.SourceConfig})
	rec := storage.AuditRecord{Action: action, Target: "config/" + filepath.Base(r.opts.ConfigPath), Detail: d}
	if err := r.store.RecordAudit(ctx, rec); err != nil {
		r.log.Warn("recording the config change in the audit trail", slog.String("action", action), slog.Any("error", err))
	}
}
