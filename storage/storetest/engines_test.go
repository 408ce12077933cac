package storetest_test

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // the raw handle on the SQLite file

	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/sqlite"
)

// engine is a migrated store on its own database, and a raw handle on
// that database for what the storage API cannot do (forcing odd rows).
type engine struct {
	name  string
	store storage.Store
	raw   *sql.DB
}

// engines opens a migrated store on each SQL engine, on databases of the
// test's own.
func engines(t testing.TB) []engine {
	t.Helper()
	ctx := context.Background()
	var out []engine

	file := filepath.Join(t.TempDir(), "tock.db")
	ls, err := sqlite.Open(ctx, "sqlite:"+file, sqlite.Options{})
	if err != nil {
		t.Fatalf("opening SQLite: %v", err)
	}
	t.Cleanup(func() { ls.Close() })
	lraw, err := sql.Open("sqlite", file+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lraw.Close() })
	out = append(out, engine{"sqlite", ls, lraw})

	dbURL := mysqltest.NewDatabase(t)
	ms, err := mysql.Open(ctx, dbURL, mysql.Options{})
	if err != nil {
		t.Fatalf("opening MySQL: %v", err)
	}
	t.Cleanup(func() { ms.Close() })
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gomysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", u.Host, strings.TrimPrefix(u.Path, "/")
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	mraw, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mraw.Close() })
	out = append(out, engine{"mysql", ms, mraw})

	for _, e := range out {
		if err := e.store.Migrate(ctx); err != nil {
			t.Fatalf("migrating %s: %v", e.name, err)
		}
	}
	return out
}
