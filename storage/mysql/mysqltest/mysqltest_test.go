package mysqltest_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tock-sched/tock/storage/mysql"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
)

func TestNewDatabase(t *testing.T) {
	var dbURL string
	t.Run("create", func(t *testing.T) {
		dbURL = mysqltest.NewDatabase(t)
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.Path, "/"+mysqltest.Prefix) || len(u.Path) != len("/"+mysqltest.Prefix)+16 {
			t.Fatalf("database %q, want %s and 16 hex digits", u.Path, mysqltest.Prefix)
		}
		s, err := mysql.Open(t.Context(), dbURL, mysql.Options{})
		if err != nil {
			t.Fatalf("opening the new database: %v", err)
		}
		defer s.Close()
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if other := mysqltest.NewDatabase(t); other == dbURL {
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
