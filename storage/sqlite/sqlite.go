package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tock-sched/tock/migrations"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/internal/sqlstore"
)

// Defaults of Options.
const (
	// DefaultBusyTimeout is how long a connection waits for a lock held by
	// another process before SQLITE_BUSY.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultReaders is the size of the read-only connection pool.
	DefaultReaders = 4
)

// Options configures Open.
type Options struct {
	// Logger receives migration and retry messages. Default: discard.
	Logger *slog.Logger
	// BusyTimeout is how long a connection waits for another process's
	// lock. Default DefaultBusyTimeout.
	BusyTimeout time.Duration
	// Readers is the number of read-only connections. Default
	// DefaultReaders.
	Readers int
}

// Store is the SQLite implementation of storage.Store.
type Store struct {
	*sqlstore.Store
	// path is the database file, "" for an in-memory database.
	path string
}

// Migrate applies pending migrations while holding an exclusive lock on a
// file beside the database (PATH-migrate.lock), so that two processes
// migrating one file at once — tock run starting while a CLI command opens
// the same --store — take turns instead of one failing on a migration the
// other applied.
func (s *Store) Migrate(ctx context.Context) error {
	if s.path == "" {
		return s.Store.Migrate(ctx)
	}
	unlock, err := lockFile(ctx, s.path+"-migrate.lock")
	if err != nil {
		return fmt.Errorf("sqlite: locking %s for migration: %w", s.path, err)
	}
	defer unlock()
	return s.Store.Migrate(ctx)
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating it if needed) the SQLite database named by a
// sqlite:PATH URL — sqlite:tock.db, sqlite:/var/lib/tock/tock.db,
// sqlite:///var/lib/tock/tock.db or sqlite::memory: — and checks it
// answers. It does not migrate; call Migrate.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	path, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.Readers <= 0 {
		opts.Readers = DefaultReaders
	}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", opts.BusyTimeout.Milliseconds())
	file := "file:" + escapePath(path)
	memory := path == ":memory:"

	w, err := sql.Open("sqlite", file+"?"+busy+
		"&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	// One writer: goroutines wait their turn in the pool rather than
	// collide in SQLite. An in-memory database lives as long as its only
	// connection, which therefore also serves the reads.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := firstConnect(ctx, w, path, memory); err != nil {
		w.Close()
		return nil, err
	}
	r := w
	if !memory {
		if r, err = sql.Open("sqlite", file+"?"+busy+"&_pragma=query_only(1)"); err != nil {
			w.Close()
			return nil, fmt.Errorf("opening sqlite %s for reading: %w", path, err)
		}
		r.SetMaxOpenConns(opts.Readers)
		r.SetMaxIdleConns(opts.Readers)
	}
	st := &Store{Store: sqlstore.New(sqlstore.Config{Dialect: dialect, DB: w, ReadDB: r, Logger: opts.Logger})}
	if !memory {
		st.path = path
	}
	return st, nil
}

// firstConnect opens the writer's connection and checks the file is in WAL
// mode. Turning a new file to WAL needs an exclusive lock that SQLite does
// not wait for (SQLITE_BUSY at once, whatever the busy timeout), so two
// processes opening a new file together take turns on the lock file
// Migrate uses (PATH-migrate.lock).
func firstConnect(ctx context.Context, w *sql.DB, path string, memory bool) error {
	if memory {
		if err := w.PingContext(ctx); err != nil {
			return fmt.Errorf("opening sqlite %s: %w", path, err)
		}
		return nil
	}
	unlock, err := lockFile(ctx, path+"-migrate.lock")
	if err != nil {
		return fmt.Errorf("opening sqlite %s: locking %s-migrate.lock: %w", path, path, err)
	}
	defer unlock()
	if err := w.PingContext(ctx); err != nil {
		return fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("opening sqlite %s: reading journal mode: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("opening sqlite %s: journal mode is %q, not wal (is it on a network file system?)", path, mode)
	}
	return nil
}

// parseURL returns the file path of a sqlite: URL.
func parseURL(raw string) (string, error) {
	path, ok := strings.CutPrefix(raw, "sqlite:")
	if !ok {
		return "", fmt.Errorf("sqlite: store URL %q: want sqlite:PATH", raw)
	}
	path = strings.TrimPrefix(path, "//")
	if path == "" {
		return "", fmt.Errorf("sqlite: store URL %q has no file path", raw)
	}
	return path, nil
}

// escapePath makes path literal inside a file: URI, where ? # and % are
// special.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

var dialect = sqlstore.Dialect{
	Name:           "sqlite",
	PrepareChunks:  true,
	DriverName:     "sqlite3",
	Goose:          goose.DialectSQLite3,
	Migrations:     migrations.SQLite,
	Time:           func(t time.Time) any { return t.UnixMicro() },
	ForUpdate:      "",
	UseIndex:       func(name string) string { return " INDEXED BY " + name },
	SkipDuplicates: " ON CONFLICT DO NOTHING",
	Returning:      true, // the bundled SQLite is 3.54
	Upsert:         func(key string) string { return "ON CONFLICT (" + key + ") DO UPDATE SET" },
	Inserted:       func(col string) string { return "excluded." + col },
	Classify:       classify,
}

func classify(err error) sqlstore.ErrorKind {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return sqlstore.KindOther
	}
	switch code := e.Code(); {
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		return sqlstore.KindTransient
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.KindDuplicate
	}
	return sqlstore.KindOther
}
