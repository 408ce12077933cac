package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

const (
	// reasonUnplaced is the part of an unclaimed run's reason that names
	// the labels it required.
	reasonUnplaced = "no live replica matches run_on labels %s"
	// reasonPinReleased is recorded on a shard whose pinned node stopped
	// heartbeating before it claimed the shard.
	reasonPinReleased = "pinned node %s is no longer live; shard released to any matching replica"
)

// liveNode is a node that may run shards: live, not scheduler-only.
type liveNode struct {
	ID     string `db:"id"`
	Labels string `db:"labels"`
}

// liveWorkers returns the ids, sorted, of the nodes with a heartbeat at or
// after since that run workers.
func (s *Store) liveWorkers(ctx context.Context, tx *sqlx.Tx, since time.Time) ([]liveNode, error) {
	var nodes []liveNode
	if err := tx.SelectContext(ctx, &nodes, "SELECT id, labels FROM nodes WHERE heartbeat >= ? AND role <> 'scheduler' ORDER BY id",
		s.t(since)); err != nil {
		return nil, fmt.Errorf("reading live nodes: %w", err)
	}
	return nodes, nil
}

// splitBroadcasts replaces every queued broadcast row by its shards: one
// per live worker node whose labels include the row's, sorted by node id,
// each pinned to its node; one unpinned shard (0 of 1) when no node
// matches. Rows other than queued broadcasts (skipped, canceled by the
// concurrency policies, or not broadcast) stay as they are. The forbid
// references between rows (waitsFor) follow the rows to their new places,
// pointing at shard 0.
func (s *Store) splitBroadcasts(ctx context.Context, tx *sqlx.Tx, rows []*newRow, liveSince time.Time) ([]*newRow, error) {
	if !slices.ContainsFunc(rows, func(r *newRow) bool { return r.Broadcast && r.Status == jobs.StatusQueued }) {
		return rows, nil
	}
	nodes, err := s.liveWorkers(ctx, tx, liveSince)
	if err != nil {
		return nil, err
	}
	labels := make([]jobs.Labels, len(nodes))
	for i, n := range nodes {
		labels[i], _ = jobs.ParseLabels(n.Labels)
	}
	out := make([]*newRow, 0, len(rows))
	moved := make([]int, len(rows)) // old index → new index
	for i, r := range rows {
		moved[i] = len(out)
		if !r.Broadcast || r.Status != jobs.StatusQueued {
			out = append(out, r)
			continue
		}
		var pins []string
		for j, n := range nodes {
			if labels[j].MatchesText(r.RunOnLabels) {
				pins = append(pins, n.ID)
			}
		}
		if len(pins) == 0 {
			r.shard, r.shardTotal = 0, 1
			out = append(out, r)
			continue
		}
		for k, node := range pins {
			sh := *r
			sh.shard, sh.shardTotal, sh.pinned = k, len(pins), text(node)
			out = append(out, &sh)
		}
	}
	for _, r := range out {
		if r.waitsFor >= 0 {
			r.waitsFor = moved[r.waitsFor]
		}
	}
	return out, nil
}

// ReleasePins unpins the queued shards whose pinned node has no heartbeat
// since p.LiveSince, at most batchLimit per call, so that any matching
// replica claims them, and stamps them enqueued now: the caller rings
// their doorbells on their new route. Fenced (I2). The pinned node itself
// may still claim a released shard: the pin only ever narrows who may.
func (s *Store) ReleasePins(ctx context.Context, p storage.ReleaseParams) ([]jobs.Run, error) {
	var out []jobs.Run
	err := s.write(ctx, "releasing pins of shards on dead nodes", func(tx *sqlx.Tx) error {
		out = nil
		if err := s.fence(ctx, tx, p.Epoch); err != nil {
			return err
		}
		// runs_status_pin: only the queued pinned shards are read.
		var rows []runRow
		if err := tx.SelectContext(ctx, &rows, "SELECT "+runCols+" FROM runs WHERE status = 'queued' AND pinned_node > '' "+
			"AND pinned_node NOT IN (SELECT id FROM nodes WHERE heartbeat >= ?) ORDER BY id LIMIT ?"+s.d.ForUpdate+s.d.SkipLocked,
			s.t(p.LiveSince), batchLimit); err != nil {
			return fmt.Errorf("reading shards pinned to dead nodes: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		now := utc(p.Now)
		for _, row := range rows {
			run := row.run()
			msg := fmt.Sprintf(reasonPinReleased, run.PinnedNode)
			run.PinnedNode, run.Error = "", msg
			if err := execN(ctx, tx, 1, "UPDATE runs SET pinned_node = '', enqueued_at = ?, error = ? WHERE id = ? AND status = 'queued'",
				s.t(now), msg, run.ID); err != nil {
				return fmt.Errorf("releasing shard %d: %w", run.ID, err)
			}
			out = append(out, run)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// placedFor reports whether a run row may be claimed by node carrying
// labels: its pin, if any, names node, and labels include the ones it
// requires.
func placedFor(row runRow, node string, labels jobs.Labels) bool {
	if row.PinnedNode != "" && row.PinnedNode != node {
		return false
	}
	return labels.MatchesText(row.RunOnLabels)
}

// unclaimedReason is the error of a run FailUnclaimed ends.
func unclaimedReason(run jobs.Run) string {
	if run.RunOnLabels != "" {
		return fmt.Sprintf(reasonUnclaimedPrefix, run.Job, run.Digest) + fmt.Sprintf(reasonUnplaced, run.RunOnLabels) +
			" with this job definition"
	}
	return fmt.Sprintf(reasonUnclaimed, run.Job, run.Digest)
}
