package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// Migration lock settings.
const (
	// MigrationLockPrefix starts the name of the server-wide named lock
	// (GET_LOCK) Migrate holds; see MigrationLockName.
	MigrationLockPrefix = "tock_migrate:"
	// MaxLockNameLen is MySQL's limit on the length of a lock name.
	MaxLockNameLen = 64
	// MigrationLockWait is how long Migrate waits for another process's
	// migration before giving up.
	MigrationLockWait = 60 * time.Second
	// lockPoll is one GET_LOCK wait; it stays under IOTimeout so the
	// driver does not time the blocked read out.
	lockPoll = 10 * time.Second
)

// MigrationLockName is the named lock under which Migrate works on the
// database db: MigrationLockPrefix followed by db, or by a hex SHA-256
// prefix of db when the whole would pass MaxLockNameLen. Named locks are
// server-wide, so the database name keeps migrations of different
// databases on one server from waiting for each other.
func MigrationLockName(db string) string {
	if name := MigrationLockPrefix + db; len(name) <= MaxLockNameLen {
		return name
	}
	sum := sha256.Sum256([]byte(db))
	return MigrationLockPrefix + hex.EncodeToString(sum[:])[:MaxLockNameLen-len(MigrationLockPrefix)]
}

// migrationLock serialises migrations of one database across processes
// with GET_LOCK on a connection the store sets aside for it; the lock dies
// with the connection.
type migrationLock struct {
	name string
}

// Lock waits up to MigrationLockWait for the lock.
func (l migrationLock) Lock(ctx context.Context, conn *sql.Conn) error {
	// The lock's session sits idle while goose migrates on another one: it
	// must outlive a short SessionIdleTimeout, or the server would drop it
	// and the lock with it half-way through a migration.
	if _, err := conn.ExecContext(ctx, "SET SESSION wait_timeout = 28800"); err != nil {
		return fmt.Errorf("mysql: keeping the migration lock's session open: %w", err)
	}
	deadline := time.Now().Add(MigrationLockWait)
	for {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", l.name, int(lockPoll.Seconds())).Scan(&got); err != nil {
			return fmt.Errorf("mysql: taking migration lock %s: %w", l.name, err)
		}
		if got.Valid && got.Int64 == 1 {
			return nil
		}
		if !got.Valid {
			return fmt.Errorf("mysql: taking migration lock %s: server returned an error", l.name)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mysql: migration lock %s still held by another process after %s", l.name, MigrationLockWait)
		}
	}
}

// Unlock releases the lock.
func (l migrationLock) Unlock(ctx context.Context, conn *sql.Conn) error {
	var released sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", l.name).Scan(&released); err != nil {
		return fmt.Errorf("mysql: releasing migration lock %s: %w", l.name, err)
	}
	return nil
}
