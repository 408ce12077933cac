package mysql_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
)

// plannedQueries are the store's hot and history queries with the index
// each must use (docs/design.md, "Indexes and the queries that use
// them"), written with literal values as the store binds them. A key of
// "" accepts any index, for queries whose plan the optimizer may choose
// by the data (any index, never a full scan); "-" a MIN or MAX that the
// index answers without reading the table.
var plannedQueries = []struct {
	name, key, query string
}{
	{"dispatch: ticks already in history", "runs_job_tick_shard",
		"SELECT id, job, tick_key, shard FROM runs WHERE (tick_key = '2030-01-01 00:00:01' AND job IN ('job-0007', 'job-0008'))"},
	{"dispatch: a job's catch-up ticks already in history", "runs_job_tick_shard",
		"SELECT id, job, tick_key, shard FROM runs WHERE (job = 'job-0007' AND tick_key IN ('2030-01-01 00:00:01', '2030-01-01 00:00:02'))"},
	{"reaper: shards pinned to dead nodes", "runs_status_pin",
		"SELECT id FROM runs WHERE status = 'queued' AND pinned_node > '' AND pinned_node NOT IN (SELECT id FROM nodes WHERE heartbeat >= '2030-01-01 00:00:30') ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED"},
	{"dispatch: active runs (forbid, replace)", "runs_job_status_id",
		"SELECT id, job, status FROM runs WHERE job IN ('job-0007', 'job-0008') AND status IN ('queued', 'running') ORDER BY id"},
	{"dispatch: due manual runs (forbid, replace)", "runs_backfill_status",
		"SELECT id, job, status FROM runs FORCE INDEX (runs_backfill_status) WHERE backfill_id IS NULL AND status = 'scheduled' AND not_before <= '2030-01-01 00:00:05' AND job IN ('job-0007', 'job-0008')"},
	{"claim: lock queued runs", "",
		"SELECT id FROM runs WHERE id IN (5, 6, 7) AND status = 'queued' AND not_before <= '2030-01-01 00:00:05' AND cancel_requested = 0 ORDER BY id FOR UPDATE"},
	{"heartbeat", "PRIMARY",
		"UPDATE runs SET lease_until = '2030-01-01 00:01:00' WHERE id = 5 AND attempt = 1 AND node = 'n1' AND status = 'running'"},
	{"reaper: expired leases", "runs_status_due",
		"SELECT id FROM runs WHERE status = 'running' AND lease_until < '2030-01-01 00:00:30' ORDER BY lease_until, id LIMIT 1000"},
	{"recover node", "",
		"SELECT id FROM runs WHERE status = 'running' AND node = 'n1' LIMIT 1000"},
	{"requeue (DueQueued)", "runs_status_due",
		"SELECT id FROM runs WHERE status = 'queued' AND not_before <= '2030-01-01 00:00:05' AND (enqueued_at IS NULL OR enqueued_at < '2030-01-01 00:00:02') ORDER BY not_before, id LIMIT 1000"},
	{"fail unclaimed", "runs_status_due",
		"SELECT id FROM runs WHERE status = 'queued' AND not_before < '2030-01-01 00:00:01' ORDER BY not_before, id LIMIT 1000"},
	{"promote manual triggers", "runs_backfill_status",
		"SELECT id FROM runs FORCE INDEX (runs_backfill_status) WHERE backfill_id IS NULL AND status = 'scheduled' AND scheduled_at <= '2030-01-01 00:00:05' AND not_before <= '2030-01-01 00:00:05' ORDER BY scheduled_at, id LIMIT 1000"},
	{"promote: a backfill's waiting runs", "runs_backfill_status",
		"SELECT id FROM runs WHERE backfill_id = 1 AND status = 'scheduled' ORDER BY scheduled_at, id LIMIT 4"},
	{"promote: a backfill's active runs", "runs_backfill_status",
		"SELECT COUNT(*) FROM runs WHERE backfill_id = 1 AND status IN ('queued', 'running')"},
	{"job states: newest tick of a job", "-",
		"SELECT MAX(r.tick_key) FROM runs r WHERE r.job = 'job-0007'"},
	{"history: all", "runs_scheduled",
		"SELECT id FROM runs ORDER BY scheduled_at DESC, id DESC LIMIT 100"},
	{"history: job", "runs_job_scheduled",
		"SELECT id FROM runs WHERE job = 'job-0007' ORDER BY scheduled_at DESC, id DESC LIMIT 100"},
	{"history: job, page 2", "runs_job_scheduled",
		"SELECT id FROM runs WHERE job = 'job-0007' AND (scheduled_at < '2030-01-01 00:00:03' OR (scheduled_at = '2030-01-01 00:00:03' AND id < 900)) ORDER BY scheduled_at DESC, id DESC LIMIT 100"},
	{"history: status", "runs_status_scheduled",
		"SELECT id FROM runs WHERE status = 'failed' ORDER BY scheduled_at DESC, id DESC LIMIT 100"},
	{"history: trigger", "runs_trig_scheduled",
		"SELECT id FROM runs WHERE trig = 'manual' ORDER BY scheduled_at DESC, id DESC LIMIT 100"},
	{"history: time range", "runs_scheduled",
		"SELECT id FROM runs WHERE scheduled_at >= '2030-01-01 00:00:01' AND scheduled_at < '2030-01-01 00:00:02' ORDER BY scheduled_at DESC, id DESC LIMIT 100"},
	{"history: job and status", "",
		"SELECT id FROM runs WHERE job = 'job-0007' AND status = 'succeeded' ORDER BY scheduled_at DESC, id DESC LIMIT 100"},
	{"last run of each job", "runs_job_status_id",
		"SELECT job, MAX(id) AS last_id FROM runs GROUP BY job, status"},
	{"prune: candidates", "",
		"SELECT id FROM runs WHERE status IN ('succeeded', 'failed', 'missed') AND scheduled_at < '2030-01-01 00:00:02' AND COALESCE(finished_at, scheduled_at) < '2030-01-01 00:00:02' ORDER BY id LIMIT 1000"},
	{"prune: keep per job", "",
		"SELECT id FROM runs WHERE job = 'job-0007' ORDER BY id DESC LIMIT 1 OFFSET 9"},
	{"run's attempts", "PRIMARY",
		"SELECT run_id FROM attempts WHERE run_id = 5 ORDER BY number"},
	{"deps: ended runs pending", "runs_deps_pending",
		"SELECT id FROM runs WHERE deps_pending = 1 AND status IN ('succeeded', 'failed', 'timed_out', 'canceled', 'lost', 'missed', 'skipped') ORDER BY id LIMIT 500"},
	{"deps: dependent of a key", "runs_job_dep",
		"SELECT COUNT(*) FROM runs WHERE job = 'job-0007' AND dep_key = 'r:8'"},
	{"deps: upstream run of a tick", "runs_job_tick_shard",
		"SELECT id FROM runs WHERE job = 'job-0007' AND tick_key = '2030-01-01 00:00:01'"},
	{"deps: upstream runs of a run", "PRIMARY",
		"SELECT upstream_id FROM run_upstreams WHERE run_id = 5 ORDER BY position"},
	{"deps: downstream runs of a run", "run_upstreams_upstream",
		"SELECT run_id FROM run_upstreams WHERE upstream_id = 5 ORDER BY run_id"},
}

// TestQueryPlans fills a database with a few thousand runs in every
// status and checks that each query of plannedQueries uses its index
// (EXPLAIN key), never a full table scan (type ALL). -v prints the plans.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s, url, epoch := leaderStore(t)
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const jobsN, ticks = 200, 15
	for tick := range ticks {
		at := t0.Add(time.Duration(tick) * time.Second)
		in := make([]storage.NewRun, jobsN)
		for i := range in {
			in[i] = storage.NewRun{Job: fmt.Sprintf("job-%04d", i), Digest: "d", ScheduledAt: at, Trigger: jobs.TriggerSchedule,
				Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: at, Concurrency: jobs.ConcurrencyAllow}
		}
		queued, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: at, Runs: in})
		if err != nil {
			t.Fatal(err)
		}
		if tick >= ticks-2 {
			continue // the last ticks stay queued
		}
		var ps []storage.ClaimParams
		for _, r := range queued {
			ps = append(ps, storage.ClaimParams{RunID: r.ID, Job: r.Job, Digest: r.Digest, Node: "n1", Now: at, LeaseUntil: at.Add(30 * time.Second)})
		}
		claimed, err := s.ClaimMany(ctx, ps)
		if err != nil {
			t.Fatal(err)
		}
		if tick >= ticks-4 {
			continue // these stay running
		}
		var fs []storage.FinishParams
		for i, r := range claimed {
			st := jobs.StatusSucceeded
			if i%50 == 0 {
				st = jobs.StatusFailed
			}
			fs = append(fs, storage.FinishParams{RunID: r.ID, Attempt: r.Attempt, Node: "n1", Status: st, FinishedAt: at})
		}
		if _, err := s.FinishMany(ctx, fs); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		if _, err := s.Trigger(ctx, fmt.Sprintf("job-%04d", i), t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t, url)
	// Dependency rows: half the runs get a key (the first tick's run of
	// job-0007 has id 8).
	if _, err := db.ExecContext(ctx, "UPDATE runs SET dep_key = CONCAT('r:', id) WHERE id % 2 = 0"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"runs", "attempts", "job_state"} {
		if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+table); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range plannedQueries {
		rows, err := db.QueryContext(ctx, "EXPLAIN "+q.query)
		if err != nil {
			t.Fatalf("%s: EXPLAIN: %v", q.name, err)
		}
		plan := explainRows(t, rows)
		t.Logf("%-42s %s", q.name, plan.String())
		if q.key == "-" {
			// MIN/MAX answered from the index: "Select tables optimized away".
			if !strings.Contains(plan.extra, "optimized away") {
				t.Errorf("%s: want the index to answer it, got %s", q.name, plan)
			}
			continue
		}
		if plan.typ == "ALL" || plan.key == "" {
			t.Errorf("%s: full scan (type %s, key %q): %s", q.name, plan.typ, plan.key, q.query)
		} else if q.key != "" && plan.key != q.key {
			t.Errorf("%s: uses %s, want %s: %s", q.name, plan.key, q.key, q.query)
		}
	}
}

type explained struct{ typ, key, extra string }

func (e explained) String() string {
	return fmt.Sprintf("type=%s key=%s extra=%q", e.typ, e.key, e.extra)
}

// explainRows reads the first row of an EXPLAIN (the runs or attempts
// table: every listed query reads one table).
func explainRows(t *testing.T, rows *sql.Rows) explained {
	t.Helper()
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out explained
	if !rows.Next() {
		t.Fatal("EXPLAIN returned no row")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	for i, c := range cols {
		switch strings.ToLower(c) {
		case "type":
			out.typ = vals[i].String
		case "key":
			out.key = vals[i].String
		case "extra":
			out.extra = vals[i].String
		}
	}
	return out
}

// leaderStore opens a store on a database of its own, migrates it and
// bumps the epoch, as a leader does; it returns the store, the database's
// URL and the epoch.
func leaderStore(t *testing.T) (*mysql.Store, string, int64) {
	t.Helper()
	url := mysqltest.NewDatabase(t)
	s := open(t, url)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	epoch, err := s.BumpEpoch(t.Context(), "leader")
	if err != nil {
		t.Fatal(err)
	}
	return s, url, epoch
}

// rawDB is a plain connection pool to the database at url.
func rawDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn(t, url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
