package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/tock-sched/tock/storage/mysql"
)

// Environment variables read by MySQLURL.
const (
	// EnvMySQL overrides the server URL, without a database, e.g.
	// mysql://root@127.0.0.1:3306/.
	EnvMySQL = "TOCK_TEST_MYSQL"
	// EnvSkipMySQL, set to 1, skips tests that need MySQL.
	EnvSkipMySQL = "TOCK_TEST_SKIP_MYSQL"
	// DefaultMySQL is the test server when EnvMySQL is unset.
	DefaultMySQL = "mysql://root@127.0.0.1:3306/"
	// Prefix starts the name of every database MySQLURL creates.
	Prefix = "tock_t_"
)

// adminTimeout bounds creating and dropping a database.
const adminTimeout = 30 * time.Second

// MySQLURL creates an empty database named tock_t_<random> on the test
// server and returns its mysql:// URL; the database is dropped in
// t.Cleanup. It skips t if TOCK_TEST_SKIP_MYSQL=1 and fails it if the
// server cannot be reached.
func MySQLURL(t testing.TB) string {
	t.Helper()
	if os.Getenv(EnvSkipMySQL) == "1" {
		t.Skipf("testdb: MySQL tests skipped (%s=1)", EnvSkipMySQL)
	}
	base := os.Getenv(EnvMySQL)
	if base == "" {
		base = DefaultMySQL
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testdb: %s is not a URL", EnvMySQL)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testdb: reading random bytes: %v", err)
	}
	u.Path = "/" + Prefix + hex.EncodeToString(b[:])
	dbURL := u.String()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := mysql.CreateDatabase(ctx, dbURL); err != nil {
		t.Fatalf("testdb: MySQL at %s: %v (start it, e.g. with scripts/test.sh, set %s to another server, or %s=1 to skip)",
			u.Redacted(), err, EnvMySQL, EnvSkipMySQL)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := mysql.DropDatabase(ctx, dbURL); err != nil {
			t.Errorf("testdb: %v", err)
		}
	})
	return dbURL
}
