package sqlstore

import (
	"context"
	"database/sql"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
)

// ErrorKind classifies a driver error.
type ErrorKind int

// Error kinds.
const (
	// KindOther is any error the store does not treat specially.
	KindOther ErrorKind = iota
	// KindDuplicate is a unique-key violation (MySQL 1062, SQLite
	// SQLITE_CONSTRAINT_UNIQUE); it is returned as storage.ErrDuplicate.
	KindDuplicate
	// KindTransient is a deadlock, lock wait timeout or busy database;
	// the transaction is retried.
	KindTransient
)

// MigrationLocker is a lock that lives in a database session, such as
// MySQL's GET_LOCK. The Store takes it before it lets goose look at the
// database and releases it after goose is done.
//
// It is not handed to goose (goose.WithSessionLocker): goose v3 takes a
// session locker only around the migrations themselves, while Up first
// calls HasPending, which creates the version table unlocked.
type MigrationLocker interface {
	// Lock takes the lock on conn, waiting for another holder as long as
	// the locker allows.
	Lock(ctx context.Context, conn *sql.Conn) error
	// Unlock releases the lock conn holds.
	Unlock(ctx context.Context, conn *sql.Conn) error
}

// Dialect is what differs between the SQL engines the Store runs on. The
// driver packages fill it in; every field is required unless it says
// otherwise.
type Dialect struct {
	// Name names the engine in messages, e.g. "sqlite" or "mysql".
	Name string
	// DriverName is the database/sql driver name sqlx uses to pick the
	// placeholder style; both engines use "?".
	DriverName string
	// Goose is the goose dialect Migrate uses.
	Goose goose.Dialect
	// Migrations holds the dialect's numbered goose SQL files at its root.
	Migrations fs.FS
	// MigrationLocker, when set, serialises Migrate and SchemaVersion
	// across processes. Optional. The lock is taken on a connection of
	// its own, so the write pool must allow two: the lock's and goose's.
	MigrationLocker MigrationLocker

	// Time converts a UTC time truncated to microseconds to the value
	// stored in a time column. Times read back are scanned from either
	// int64 Unix microseconds or time.Time.
	Time func(time.Time) any
	// ForUpdate is appended to a SELECT whose rows the transaction goes on
	// to change: " FOR UPDATE" where rows are locked one by one, "" where
	// the write transaction already holds the whole database.
	ForUpdate string
	// SkipLocked follows ForUpdate in the leader's reaping reads: rows
	// another transaction holds are left for the next round instead of
	// waited for, so that a replica frozen or cut off in the middle of a
	// transaction cannot stall the reaper — and the dispatches waiting
	// behind its fence row lock. " SKIP LOCKED" (MySQL 8.0, MariaDB 10.6)
	// or "". Optional.
	SkipLocked string
	// UseIndex returns what follows a table name to make a SELECT read
	// it through the named index, where the planner would otherwise pick
	// one whose range holds many rows the query filters out: " FORCE
	// INDEX (name)" or " INDEXED BY name". Optional: nil leaves it to
	// the planner.
	UseIndex func(name string) string
	// SkipDuplicates is appended to an INSERT so that rows a unique key
	// already holds are skipped silently, e.g. " ON CONFLICT DO NOTHING".
	SkipDuplicates string
	// Returning says that an INSERT … SkipDuplicates may end in RETURNING
	// and then answers the rows it wrote (MariaDB 10.5+, SQLite 3.35+; not
	// MySQL): Dispatch reads the ids of the runs it inserted from the
	// INSERT instead of a SELECT of their keys. Optional.
	Returning bool
	// Upsert returns the clause that turns an INSERT into an update of the
	// row holding the same key column, up to and including the keyword
	// before the assignments: "ON CONFLICT (key) DO UPDATE SET" or
	// "ON DUPLICATE KEY UPDATE".
	Upsert func(key string) string
	// Inserted names, inside an upsert's assignments, the value the INSERT
	// tried to put in col: "excluded.col" or "VALUES(col)".
	Inserted func(col string) string
	// WriteTx are the options of write transactions; nil for the driver's
	// defaults. Optional.
	WriteTx *sql.TxOptions
	// NowQuery reads the engine's clock as one DATETIME(6)-like value in
	// UTC, e.g. "SELECT NOW(6)"; empty means the engine has no clock of
	// its own worth asking (SQLite runs in this process), and Now answers
	// the process clock after a ping.
	NowQuery string
	// PrepareChunks says that a statement run for many full chunks of a
	// large write is worth preparing once per transaction: true where the
	// engine runs in process and prepares every statement it executes
	// (SQLite), false where the driver interpolates arguments client-side
	// and a prepare would be a round trip of its own (MySQL with
	// interpolateParams).
	PrepareChunks bool
	// Classify tells duplicate-key and transient driver errors apart from
	// the others; it must look through wrapping (errors.As).
	Classify func(error) ErrorKind
}

// useIndex is d.UseIndex(name), or "" without one.
func (d Dialect) useIndex(name string) string {
	if d.UseIndex == nil {
		return ""
	}
	return d.UseIndex(name)
}
