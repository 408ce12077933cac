package mysql_test

import (
	"database/sql"
	"database/sql/driver"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/tock-sched/tock/internal/testdb"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql"
	"github.com/tock-sched/tock/storage/storetest"
)

func open(t *testing.T, url string) *mysql.Store {
	t.Helper()
	s, err := mysql.Open(t.Context(), url, mysql.Options{MaxOpenConns: 8})
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
	storetest.RunSuite(t, func(t *testing.T) storage.Store { return open(t, testdb.MySQLURL(t)) })
}

// TestConcurrentMigrate starts replicas together on an empty database: each
// Migrate succeeds and each migration is applied once (GET_LOCK).
func TestConcurrentMigrate(t *testing.T) {
	url := testdb.MySQLURL(t)
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
	if applied != distinct || int64(applied) != latest {
		t.Fatalf("goose_db_version records %d applications of %d versions, want each of %d once", applied, distinct, latest)
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

// TestReadCommitted checks that the session settings Open adds give READ
// COMMITTED on this server, whichever name it gives the variable.
func TestReadCommitted(t *testing.T) {
	cfg, err := mysql.ParseURL(testdb.MySQLURL(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := mysql.SetReadCommitted(t.Context(), cfg); err != nil {
		t.Fatal(err)
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
	if s, err := mysql.Open(t.Context(), "mysql://root@127.0.0.1:3306/", mysql.Options{}); err == nil {
		s.Close()
		t.Fatal("Open without a database name succeeded")
	}
}
