// Package sqlite is tock's embedded default Store: one SQLite file, opened
// with the pure-Go modernc.org/sqlite driver, so `tock run` needs nothing
// else installed. The queries are shared with the MySQL store
// (storage/internal/sqlstore); this package only opens the database and
// describes the SQLite dialect.
//
// The file is in WAL mode with synchronous=NORMAL, foreign keys on and a
// busy timeout. All writes go through one connection whose transactions
// begin IMMEDIATE, so goroutines queue in the pool instead of failing with
// SQLITE_BUSY; reads use a separate pool of read-only connections that WAL
// lets run beside the writer.
//
// It serves one replica: several tock processes must not share a SQLite
// file as a cluster (use storage/mysql), and no driver type leaves the
// package. Open (while it turns a new file to WAL) and Migrate hold an
// exclusive lock on PATH-migrate.lock (flock on Unix), so that processes
// opening or migrating the same file at the same moment (a CLI command
// given --store while tock run starts, say) take turns.
package sqlite
