package mysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/tock-sched/tock/migrations"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/storetest"
)

func open(t *testing.T, url string) *mysql.Store {
	return openWith(t, mysql.Open, url)
}

// openWith opens a store on url with opener and closes it after the test.
func openWith(t *testing.T, opener func(context.Context, string, mysql.Options) (*mysql.Store, error), url string) *mysql.Store {
	t.Helper()
	s, err := opener(t.Context(), url, mysql.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSuite(t *testing.T) {
	t.Parallel()
	storetest.RunSuite(t, func(t *testing.T) storage.Store { return open(t, mysqltest.NewDatabase(t)) })
}

// TestSuiteWithoutReturning runs the suite on a store that reads the ids
// of the runs it inserts back with a SELECT, the path taken on MySQL,
// which has no INSERT … RETURNING.
func TestSuiteWithoutReturning(t *testing.T) {
	t.Parallel()
	storetest.RunSuite(t, func(t *testing.T) storage.Store {
		return openWith(t, mysql.OpenWithoutReturning, mysqltest.NewDatabase(t))
	})
}

// TestConcurrentMigrate starts replicas together on an empty database: each
// Migrate succeeds and each migration is applied once (GET_LOCK).
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	url := mysqltest.NewDatabase(t)
	const replicas = 4
	stores := make([]*mysql.Store, replicas)
	for i := range stores {
		stores[i] = open(t, url)
	}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			if err := s.Migrate(t.Context()); err != nil {
				t.Errorf("Migrate: %v", err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	cur, latest, err := stores[0].SchemaVersion(t.Context())
	if err != nil || cur != latest {
		t.Fatalf("SchemaVersion = (%d, %d, %v), want current = latest", cur, latest, err)
	}
	cfg, err := mysql.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(mustConnector(t, cfg))
	defer db.Close()
	var applied, distinct int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*), COUNT(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0").
		Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	// Numbers may leave gaps (a number kept for a migration on another
	// branch), so count the files.
	files, err := fs.Glob(migrations.MySQL, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if applied != distinct || applied != len(files) {
		t.Fatalf("goose_db_version records %d applications of %d versions, want each of %d once", applied, distinct, len(files))
	}
}

// TestConcurrentMigrateFreshDatabase is the regression test for replicas
// started together on an empty database. goose's Up checks for pending
// migrations before it takes a session lock, and that check creates the
// version table and its version-0 row in two commits on MySQL; a replica
// that looked in between failed with "missing zero version migration".
// Each round migrates a new database from three stores (three pools, as
// three processes have) at once, each starting up to startJitter late so
// that the rounds spread one replica's first look over another's window;
// every Migrate must succeed and leave the schema at the latest version.
func TestConcurrentMigrateFreshDatabase(t *testing.T) {
	t.Parallel()
	rounds := 20
	if testing.Short() {
		rounds = 3
	}
	const (
		replicas    = 3
		startJitter = 10 * time.Millisecond
	)
	for round := range rounds {
		t.Run(fmt.Sprintf("round%02d", round), func(t *testing.T) {
			url := mysqltest.NewDatabase(t)
			stores := make([]*mysql.Store, replicas)
			for i := range stores {
				stores[i] = open(t, url)
			}
			errs := make([]error, replicas)
			var wg sync.WaitGroup
			for i, s := range stores {
				delay := rand.N(startJitter)
				wg.Go(func() {
					time.Sleep(delay)
					errs[i] = s.Migrate(t.Context())
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: Migrate: %v", i, err)
				}
			}
			if t.Failed() {
				return
			}
			cur, latest, err := stores[0].SchemaVersion(t.Context())
			if err != nil || cur != latest {
				t.Fatalf("SchemaVersion = (%d, %d, %v), want current = latest", cur, latest, err)
			}
		})
	}
}

// TestMigrateWaitsForLock checks deterministically what the test above
// checks by chance: while another session holds the database's migration
// lock, Migrate leaves the database alone, goose's version table included,
// and a store on another database is not held up.
func TestMigrateWaitsForLock(t *testing.T) {
	t.Parallel()
	url, other := mysqltest.NewDatabase(t), mysqltest.NewDatabase(t)
	cfg, err := mysql.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(mustConnector(t, cfg))
	defer db.Close()
	holder, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	name := mysql.MigrationLockName(cfg.DBName)
	var got int
	if err := holder.QueryRowContext(t.Context(), "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK(%s) = %d, %v; want 1", name, got, err)
	}

	if err := open(t, other).Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate of another database while %s is held: %v", name, err)
	}

	// On failure, cancelling stops the Migrate below waiting for the lock.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	s := open(t, url)
	done := make(chan error, 1)
	wg.Go(func() { done <- s.Migrate(ctx) })
	select {
	case err := <-done:
		t.Fatalf("Migrate returned (%v) while another session held %s", err, name)
	case <-time.After(500 * time.Millisecond):
	}
	var tables int
	if err := db.QueryRowContext(t.Context(),
		"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("Migrate created %d tables while another session held %s, want none", tables, name)
	}
	if _, err := holder.ExecContext(t.Context(), "DO RELEASE_LOCK(?)", name); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Migrate after the lock was released: %v", err)
	}
}

// TestMigrateOneConnectionPool: Migrate holds its lock on one connection
// while goose works on another, so Open makes a pool of at least two.
func TestMigrateOneConnectionPool(t *testing.T) {
	t.Parallel()
	s, err := mysql.Open(t.Context(), mysqltest.NewDatabase(t), mysql.Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate with MaxOpenConns 1: %v", err)
	}
}

func TestMigrationLockName(t *testing.T) {
	t.Parallel()
	if got := mysql.MigrationLockName("tock"); got != "tock_migrate:tock" {
		t.Errorf("MigrationLockName(tock) = %q, want tock_migrate:tock", got)
	}
	a, b := strings.Repeat("a", 64), strings.Repeat("a", 63)+"b"
	la, lb := mysql.MigrationLockName(a), mysql.MigrationLockName(b)
	if len(la) > mysql.MaxLockNameLen || len(lb) > mysql.MaxLockNameLen || !strings.HasPrefix(la, mysql.MigrationLockPrefix) {
		t.Errorf("MigrationLockName of 64-character names = %q, %q: want at most %d characters starting %s",
			la, lb, mysql.MaxLockNameLen, mysql.MigrationLockPrefix)
	}
	if la == lb {
		t.Errorf("MigrationLockName gives %q for two databases", la)
	}
}

func mustConnector(t *testing.T, cfg *gomysql.Config) driver.Connector {
	t.Helper()
	c, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, addr, user, pass, db string
		params                    map[string]string
		timeout                   time.Duration
	}{
		{url: "mysql://tock:s3cr%40t@db.example:3307/tock", addr: "db.example:3307", user: "tock", pass: "s3cr@t", db: "tock", timeout: 5 * time.Second},
		{url: "mysql://root@127.0.0.1/x", addr: "127.0.0.1:3306", user: "root", db: "x", timeout: 5 * time.Second},
		{url: "mysql://u:p@[::1]:3306/x?timeout=2s&parseTime=false&loc=Local&tls=preferred", addr: "[::1]:3306", user: "u", pass: "p", db: "x", timeout: 2 * time.Second},
	} {
		cfg, err := mysql.ParseURL(tc.url)
		if err != nil {
			t.Fatalf("ParseURL(%s): %v", tc.url, err)
		}
		if cfg.Net != "tcp" || cfg.Addr != tc.addr || cfg.User != tc.user || cfg.Passwd != tc.pass || cfg.DBName != tc.db {
			t.Errorf("ParseURL(%s) = %s %s %s %s %s, want tcp %s %s %s %s", tc.url, cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName,
				tc.addr, tc.user, tc.pass, tc.db)
		}
		if !cfg.ParseTime || cfg.Loc != time.UTC || !cfg.ClientFoundRows || cfg.Params["time_zone"] != "'+00:00'" || !cfg.InterpolateParams {
			t.Errorf("ParseURL(%s): parseTime=%t loc=%s clientFoundRows=%t time_zone=%s interpolate=%t: the store's settings were lost",
				tc.url, cfg.ParseTime, cfg.Loc, cfg.ClientFoundRows, cfg.Params["time_zone"], cfg.InterpolateParams)
		}
		if cfg.Timeout != tc.timeout || cfg.ReadTimeout != 30*time.Second || cfg.WriteTimeout != 30*time.Second {
			t.Errorf("ParseURL(%s): timeouts %s/%s/%s, want %s/30s/30s", tc.url, cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout, tc.timeout)
		}
	}
	for _, bad := range []string{"postgres://u@h/db", "mysql:///db", "mysql://u:p@h/db?timeout=soon", "://"} {
		_, err := mysql.ParseURL(bad)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded, want an error", bad)
		} else if strings.Contains(err.Error(), ":p@") {
			t.Errorf("ParseURL(%q) error %q shows the password", bad, err)
		}
	}
}

// TestMariaDBReturning checks which server versions are taken to have
// INSERT … RETURNING.
func TestMariaDBReturning(t *testing.T) {
	for version, want := range map[string]bool{
		"10.11.19-MariaDB-0+deb12u1": true,
		"5.5.5-10.6.18-MariaDB":      true,
		"10.5.0-MariaDB":             true,
		"10.4.32-MariaDB-1:10.4.32":  false,
		"11.4.2-MariaDB-ubu2404":     true,
		"8.0.36":                     false,
		"8.4.0-commercial":           false,
		"not a version, but mariadb": false,
	} {
		if got := mysql.MariaDBReturning(version); got != want {
			t.Errorf("MariaDBReturning(%q) = %v, want %v", version, got, want)
		}
	}
}

// TestReadCommitted checks that the session settings Open adds give READ
// COMMITTED on this server, whichever name it gives the variable, and
// that the probe finds RETURNING on the MariaDB the tests run against.
func TestReadCommitted(t *testing.T) {
	t.Parallel()
	cfg, err := mysql.ParseURL(mysqltest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	returning, err := mysql.ProbeServer(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var version string
	if err := sql.OpenDB(mustConnector(t, cfg)).QueryRowContext(t.Context(), "SELECT VERSION()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if want := mysql.MariaDBReturning(version); returning != want {
		t.Errorf("probe says RETURNING %v on %s, want %v", returning, version, want)
	}
	db := sql.OpenDB(mustConnector(t, cfg))
	defer db.Close()
	for _, name := range []string{"transaction_isolation", "tx_isolation"} {
		if _, ok := cfg.Params[name]; !ok {
			continue
		}
		var level string
		if err := db.QueryRowContext(t.Context(), "SELECT @@SESSION."+name).Scan(&level); err != nil {
			t.Fatal(err)
		}
		if level != "READ-COMMITTED" {
			t.Fatalf("session %s = %s, want READ-COMMITTED", name, level)
		}
		return
	}
	t.Fatalf("no isolation setting in %v", cfg.Params)
}

func TestOpenNeedsDatabase(t *testing.T) {
	t.Parallel()
	if s, err := mysql.Open(t.Context(), "mysql://root@127.0.0.1:3306/", mysql.Options{}); err == nil {
		s.Close()
		t.Fatal("Open without a database name succeeded")
	}
}

// A replica that goes silent in the middle of a fenced transaction (a
// partition that drops its packets, a freeze) holds the leader row; with
// SessionIdleTimeout the server kills its session and frees the row, so a
// new leader fences its term within that bound instead of after hours
// (I11).
func TestSilentSessionFreesTheLeaderRow(t *testing.T) {
	t.Parallel()
	url := mysqltest.NewDatabase(t)
	ctx := t.Context()
	st, err := mysql.Open(ctx, url, mysql.Options{SessionIdleTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// The silent replica: the same session settings, a transaction that
	// locks the leader row and then sends nothing more.
	cfg, err := mysql.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	mysql.SetSessionIdleTimeout(cfg, 2*time.Second)
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	var epoch int64
	if err := tx.QueryRowContext(ctx, "SELECT epoch FROM leader WHERE id = 1 FOR UPDATE").Scan(&epoch); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := st.BumpEpoch(bctx, "new-leader"); err != nil {
		t.Fatalf("BumpEpoch behind a silent session: %v", err)
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Fatalf("the new leader fenced its term after %s; want about the 2s session idle timeout", took)
	}
}

// TestLeaseNotBehindFence holds the leader row's lock in an open
// transaction, as a fenced dispatch does until it commits, and renews the
// lease row beside it: the renewal must not wait for the dispatch. With
// the lease in the leader row it waited for the lock (up to 2.9 s behind
// dispatches against a 3 s TTL in the throughput benchmark).
func TestLeaseNotBehindFence(t *testing.T) {
	t.Parallel()
	url := mysqltest.NewDatabase(t)
	s := open(t, url)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	claim := storage.LeaseClaim{Node: "n1", Token: "tok-1", Backend: "redis", TTL: 3 * time.Second}
	if _, err := s.ClaimLease(t.Context(), claim); err != nil {
		t.Fatalf("ClaimLease: %v", err)
	}
	cfg, err := mysql.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(mustConnector(t, cfg))
	defer db.Close()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var epoch int64
	if err := tx.QueryRowContext(t.Context(), "SELECT epoch FROM leader WHERE id = 1 FOR UPDATE").Scan(&epoch); err != nil {
		t.Fatalf("locking the leader row: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	claim.Renew = true
	got, err := s.ClaimLease(ctx, claim)
	if err != nil {
		t.Fatalf("renewing the lease while the leader row is locked: %v", err)
	}
	if got.Token != claim.Token {
		t.Fatalf("renewal = %+v, want held by %s", got, claim.Token)
	}
	if _, err := s.LeaseRow(ctx); err != nil {
		t.Fatalf("reading the lease row while the leader row is locked: %v", err)
	}
	if err := s.ReleaseLease(ctx, claim.Token); err != nil {
		t.Fatalf("releasing the lease while the leader row is locked: %v", err)
	}
}

// TestLeaseRowMigration moves a held lease from the leader row's columns
// to leader_lease (00014) and back down: nothing of the lease is lost
// either way.
func TestLeaseRowMigration(t *testing.T) {
	t.Parallel()
	url := mysqltest.NewDatabase(t)
	cfg, err := mysql.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(mustConnector(t, cfg))
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectMySQL, db, migrations.MySQL, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := p.UpTo(ctx, 13); err != nil {
		t.Fatalf("migrating to 13: %v", err)
	}
	until := time.Date(2031, 1, 2, 3, 4, 5, 123456000, time.UTC)
	if _, err := db.ExecContext(ctx, "UPDATE leader SET lease_node = 'n1', lease_token = 'tok', lease_backend = 'redis', lease_until = ? WHERE id = 1", until); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 14); err != nil {
		t.Fatalf("migrating to 14: %v", err)
	}
	check := func(table string) {
		t.Helper()
		var node, token, backend string
		var got time.Time
		if err := db.QueryRowContext(ctx, "SELECT lease_node, lease_token, lease_backend, lease_until FROM "+table+" WHERE id = 1").
			Scan(&node, &token, &backend, &got); err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		if node != "n1" || token != "tok" || backend != "redis" || !got.Equal(until) {
			t.Fatalf("%s = (%s, %s, %s, %s), want (n1, tok, redis, %s)", table, node, token, backend, got, until)
		}
	}
	check("leader_lease")
	if _, err := db.ExecContext(ctx, "UPDATE leader SET lease_node = '', lease_token = '', lease_backend = '', lease_until = NULL WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 13); err != nil {
		t.Fatalf("migrating down to 13: %v", err)
	}
	check("leader")
}
