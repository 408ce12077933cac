package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tock-sched/tock/storage/internal/sqlstore"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	file := "file:" + filepath.Join(t.TempDir(), "c.db")
	a, err := sql.Open("sqlite", file+"?_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sql.Open("sqlite", file+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.ExecContext(ctx, "CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT UNIQUE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ExecContext(ctx, "INSERT INTO t VALUES (1, 'a')"); err != nil {
		t.Fatal(err)
	}
	_, dupUnique := a.ExecContext(ctx, "INSERT INTO t VALUES (2, 'a')")
	_, dupKey := a.ExecContext(ctx, "INSERT INTO t VALUES (1, 'b')")
	_, syntax := a.ExecContext(ctx, "INSERT INTO nowhere VALUES (1)")

	tx, err := a.BeginTx(ctx, nil) // holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	_, busy := b.ExecContext(ctx, "INSERT INTO t VALUES (3, 'c')")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		err  error
		want sqlstore.ErrorKind
	}{
		{"unique", dupUnique, sqlstore.KindDuplicate},
		{"primary key", dupKey, sqlstore.KindDuplicate},
		{"busy", busy, sqlstore.KindTransient},
		{"wrapped busy", fmt.Errorf("claiming: %w", busy), sqlstore.KindTransient},
		{"no such table", syntax, sqlstore.KindOther},
		{"not a driver error", errors.New("x"), sqlstore.KindOther},
	} {
		if tc.err == nil {
			t.Errorf("%s: the statement succeeded, want an error", tc.name)
			continue
		}
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%s: %v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}
