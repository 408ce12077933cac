package mysql_test

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql"
)

// EnvMeasureWrites, set to 1, runs TestWritesPerRun.
const EnvMeasureWrites = "TOCK_MEASURE_WRITES"

// Shape of the measured steady state: writeJobs jobs each due once per
// round, as the leader dispatches them (one Dispatch of every job's tick
// with every job's cursor), claimed in batches of 64 (worker pop size) and
// finished in batches of 128 (the finisher's group commit).
const (
	writeJobs        = 500
	writeRounds      = 4
	writeClaimBatch  = 64
	writeFinishBatch = 128
)

// writeCounters are the server's global status counters read around the
// measured runs. Handler_write, _update and _delete count row changes
// (an upsert that updates counts one write attempt and one update);
// MariaDB 10.11 leaves Innodb_rows_* at 0 for user tables.
var writeCounters = []string{
	"Handler_write", "Handler_update", "Handler_delete", "Handler_read_key", "Handler_read_next",
	"Innodb_os_log_written", "Com_insert", "Com_update", "Com_select", "Com_commit",
}

// TestWritesPerRun measures what the ordinary successful run costs
// MariaDB: it dispatches, claims and finishes writeJobs×writeRounds runs
// through the store, the way the leader and the worker do, and reports
// the deltas of the server's global row, handler and redo counters per
// run. The counters are global: run it while nothing else uses the server
// (it runs only with TOCK_MEASURE_WRITES=1) and repeat it; another
// client's work can only add to the figures.
//
//	TOCK_MEASURE_WRITES=1 go test -run TestWritesPerRun -v ./storage/mysql
func TestWritesPerRun(t *testing.T) {
	if os.Getenv(EnvMeasureWrites) != "1" {
		t.Skipf("set %s=1 to measure (global counters: run it alone)", EnvMeasureWrites)
	}
	s, url, epoch := leaderStore(t)
	ctx := t.Context()
	db := rawDB(t, url)
	db.SetMaxOpenConns(1)

	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// One warm-up round so that every job's cursor row exists, as in a
	// running cluster.
	cycle(t, s, epoch, t0)
	before := status(t, db)
	start := time.Now()
	for round := 1; round <= writeRounds; round++ {
		cycle(t, s, epoch, t0.Add(time.Duration(round)*time.Second))
	}
	took := time.Since(start)
	after := status(t, db)
	n := float64(writeJobs * writeRounds)
	var b strings.Builder
	fmt.Fprintf(&b, "%d runs (%d jobs × %d rounds) in %s:\n", int(n), writeJobs, writeRounds, took.Round(time.Millisecond))
	for _, c := range writeCounters {
		fmt.Fprintf(&b, "  %-22s %10.2f per run\n", c, float64(after[c]-before[c])/n)
	}
	var idx []string
	rows, err := db.QueryContext(ctx, "SELECT TABLE_NAME, COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS "+
		"WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME <> 'PRIMARY' AND TABLE_NAME IN ('runs', 'attempts', 'job_state') GROUP BY TABLE_NAME ORDER BY TABLE_NAME")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var count int
		if err := rows.Scan(&name, &count); err != nil {
			t.Fatal(err)
		}
		idx = append(idx, fmt.Sprintf("%s %d", name, count))
	}
	fmt.Fprintf(&b, "  secondary indexes: %s\n", strings.Join(idx, ", "))
	t.Log(b.String())
}

// cycle dispatches one tick of every job at at, then claims and finishes
// every run.
func cycle(t *testing.T, s *mysql.Store, epoch int64, at time.Time) {
	t.Helper()
	ctx := t.Context()
	in := make([]storage.NewRun, writeJobs)
	cursors := make(map[string]time.Time, writeJobs)
	for i := range in {
		name := fmt.Sprintf("job-%04d", i)
		in[i] = storage.NewRun{Job: name, Digest: "d", ScheduledAt: at, Trigger: jobs.TriggerSchedule,
			Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: at, Concurrency: jobs.ConcurrencyAllow}
		cursors[name] = at
	}
	queued, err := s.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: at, Runs: in, Cursors: cursors})
	if err != nil || len(queued) != writeJobs {
		t.Fatalf("Dispatch = %d runs, %v", len(queued), err)
	}
	var claimed []jobs.Run
	for lo := 0; lo < len(queued); lo += writeClaimBatch {
		var ps []storage.ClaimParams
		for _, r := range queued[lo:min(lo+writeClaimBatch, len(queued))] {
			ps = append(ps, storage.ClaimParams{RunID: r.ID, Job: r.Job, Digest: r.Digest, Node: "n1", Now: at, LeaseUntil: at.Add(30 * time.Second)})
		}
		got, err := s.ClaimMany(ctx, ps)
		if err != nil || len(got) != len(ps) {
			t.Fatalf("ClaimMany = %d runs, %v", len(got), err)
		}
		claimed = append(claimed, got...)
	}
	code := 0
	for lo := 0; lo < len(claimed); lo += writeFinishBatch {
		var ps []storage.FinishParams
		for _, r := range claimed[lo:min(lo+writeFinishBatch, len(claimed))] {
			ps = append(ps, storage.FinishParams{RunID: r.ID, Attempt: r.Attempt, Node: "n1", Status: jobs.StatusSucceeded,
				FinishedAt: at.Add(10 * time.Millisecond), ExitCode: &code})
		}
		res, err := s.FinishMany(ctx, ps)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
}

func status(t *testing.T, db *sql.DB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	rows, err := db.QueryContext(t.Context(), "SHOW GLOBAL STATUS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, val string
		if err := rows.Scan(&name, &val); err != nil {
			t.Fatal(err)
		}
		var v int64
		if _, err := fmt.Sscan(val, &v); err == nil {
			out[name] = v
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dsn turns a mysqltest URL into a go-sql-driver DSN.
func dsn(t *testing.T, url string) string {
	t.Helper()
	rest := strings.TrimPrefix(url, "mysql://")
	at := strings.LastIndex(rest, "@")
	slash := strings.Index(rest[at+1:], "/")
	if at < 0 || slash < 0 {
		t.Fatalf("unexpected test URL %s", url)
	}
	host := rest[at+1 : at+1+slash]
	return rest[:at] + "@tcp(" + host + ")" + rest[at+1+slash:]
}
