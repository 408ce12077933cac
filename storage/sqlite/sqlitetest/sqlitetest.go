// Package sqlitetest gives tests a migrated SQLite store of their own, in
// the test's temporary directory, closed when the test ends. It lives next
// to the driver, like storage/mysql/mysqltest; only tests import it.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tock-sched/tock/storage/sqlite"
)

// NewStore opens and migrates a SQLite store in a file of t's temporary
// directory and closes it in t.Cleanup.
func NewStore(t testing.TB) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "tock.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("sqlitetest: opening store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("sqlitetest: migrating store: %v", err)
	}
	return st
}
