package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Migration lock settings.
const (
	// MigrationLockName is the server-wide named lock Migrate holds.
	MigrationLockName = "tock_migrate"
	// MigrationLockWait is how long Migrate waits for another process's
	// migration before giving up.
	MigrationLockWait = 60 * time.Second
	// lockPoll is one GET_LOCK wait; it stays under IOTimeout so the
	// driver does not time the blocked read out.
	lockPoll = 10 * time.Second
)

// migrationLock serialises migrations across processes with GET_LOCK on
// goose's dedicated connection; the lock dies with the connection.
type migrationLock struct{}

// SessionLock waits up to MigrationLockWait for the lock.
func (migrationLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	deadline := time.Now().Add(MigrationLockWait)
	for {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", MigrationLockName, int(lockPoll.Seconds())).Scan(&got); err != nil {
			return fmt.Errorf("mysql: taking migration lock %s: %w", MigrationLockName, err)
		}
		if got.Valid && got.Int64 == 1 {
			return nil
		}
		if !got.Valid {
			return fmt.Errorf("mysql: taking migration lock %s: server returned an error", MigrationLockName)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mysql: migration lock %s still held by another process after %s", MigrationLockName, MigrationLockWait)
		}
	}
}

// SessionUnlock releases the lock.
func (migrationLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", MigrationLockName).Scan(&released); err != nil {
		return fmt.Errorf("mysql: releasing migration lock %s: %w", MigrationLockName, err)
	}
	return nil
}
