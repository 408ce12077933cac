package mysqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
)

// Environment variables read by NewDatabase.
const (
	// EnvURL overrides the server URL, without a database, e.g.
	// mysql://root@127.0.0.1:3306/.
	EnvURL = "TOCK_TEST_MYSQL"
	// EnvSkip, set to 1, skips tests that need MySQL.
	EnvSkip = "TOCK_TEST_SKIP_MYSQL"
	// DefaultURL is the test server when EnvURL is unset.
	DefaultURL = "mysql://root@127.0.0.1:3306/"
	// Prefix starts the name of every database NewDatabase creates.
	Prefix = "tock_t_"
)

const (
	// adminTimeout bounds creating and dropping a database.
	adminTimeout = 30 * time.Second
	dialTimeout  = 5 * time.Second
	defaultPort  = "3306"
)

// NewDatabase creates an empty database named tock_t_<random> on the test
// server and returns its mysql:// URL, for storage/mysql.Open; the database
// is dropped in t.Cleanup. It skips t if TOCK_TEST_SKIP_MYSQL=1 and fails
// it if the server cannot be reached.
func NewDatabase(t testing.TB) string {
	t.Helper()
	u := Server(t)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("mysqltest: reading random bytes: %v", err)
	}
	name := Prefix + hex.EncodeToString(b[:])
	u.Path = "/" + name
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	// The name cannot be a bound parameter; it is made of [a-z0-9_] above.
	if err := admin(ctx, u, "creating", "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("mysqltest: MySQL at %s: %v (start it, e.g. with scripts/test.sh, set %s to another server, or %s=1 to skip)",
			u.Redacted(), err, EnvURL, EnvSkip)
	}
	DropAfter(t, u, name)
	return u.String()
}

// Server returns the URL of the test server (EnvURL, else DefaultURL),
// without a database. It skips t if TOCK_TEST_SKIP_MYSQL=1.
func Server(t testing.TB) *url.URL {
	t.Helper()
	if os.Getenv(EnvSkip) == "1" {
		t.Skipf("mysqltest: MySQL tests skipped (%s=1)", EnvSkip)
	}
	base := os.Getenv(EnvURL)
	if base == "" {
		base = DefaultURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "mysql" || u.Host == "" {
		t.Fatalf("mysqltest: %s is not a mysql://user:pass@host:port/ URL", EnvURL)
	}
	return u
}

// DropAfter drops database name of the server of u when t ends, whether or
// not it exists by then (a test may leave its creation to the code under
// test). name must be made of [a-z0-9_].
func DropAfter(t testing.TB, u *url.URL, name string) {
	t.Helper()
	at := *u
	at.Path = "/" + name
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := admin(ctx, &at, "dropping", "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("mysqltest: %v", err)
		}
	})
}

// admin runs stmt on the server of u, connected without a database.
func admin(ctx context.Context, u *url.URL, verb, stmt string) error {
	cfg, err := serverConfig(u)
	if err != nil {
		return err
	}
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("configuring connection to %s: %w", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s database %s: %w", verb, u.Path[1:], err)
	}
	return nil
}

// serverConfig is the driver configuration for the server of a
// mysql://user:pass@host:port/?params URL, without a database.
func serverConfig(u *url.URL) (*gomysql.Config, error) {
	cfg := gomysql.NewConfig()
	if u.RawQuery != "" {
		var err error
		if cfg, err = gomysql.ParseDSN("/?" + u.RawQuery); err != nil {
			return nil, fmt.Errorf("parameters of %s: %w", u.Redacted(), err)
		}
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", net.JoinHostPort(u.Hostname(), port), ""
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = dialTimeout
	}
	return cfg, nil
}
