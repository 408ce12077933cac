package testdb_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tock-sched/tock/internal/testdb"
	"github.com/tock-sched/tock/storage/mysql"
)

func TestMySQLURL(t *testing.T) {
	var dbURL string
	t.Run("create", func(t *testing.T) {
		dbURL = testdb.MySQLURL(t)
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.Path, "/"+testdb.Prefix) || len(u.Path) != len("/"+testdb.Prefix)+16 {
			t.Fatalf("database %q, want %s and 16 hex digits", u.Path, testdb.Prefix)
		}
		s, err := mysql.Open(t.Context(), dbURL, mysql.Options{})
		if err != nil {
			t.Fatalf("opening the new database: %v", err)
		}
		defer s.Close()
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if other := testdb.MySQLURL(t); other == dbURL {
			t.Fatalf("two calls returned the same database %s", dbURL)
		}
	})
	if dbURL == "" {
		t.SkipNow()
	}
	// The subtest's cleanup dropped the database.
	if s, err := mysql.Open(t.Context(), dbURL, mysql.Options{}); err == nil {
		s.Close()
		t.Fatalf("database %s still exists after the test ended", dbURL)
	}
}
