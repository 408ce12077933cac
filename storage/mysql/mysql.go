package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/tock-sched/tock/internal/redact"
	"github.com/tock-sched/tock/migrations"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/internal/sqlstore"
)

// Connection defaults.
const (
	// DefaultMaxOpenConns bounds the connection pool.
	DefaultMaxOpenConns = 16
	// MinOpenConns is the smallest pool Open makes: Migrate holds the
	// migration lock on one connection while goose works on another.
	MinOpenConns = 2
	// DialTimeout bounds establishing a connection.
	DialTimeout = 5 * time.Second
	// IOTimeout bounds each read and write on a connection.
	IOTimeout = 30 * time.Second
	// ConnMaxLifetime recycles connections before servers or proxies drop
	// them as idle.
	ConnMaxLifetime = 5 * time.Minute
	// DefaultPort is used when the URL names none.
	DefaultPort = "3306"
)

// MySQL error numbers the store tells apart.
const (
	errDupEntry        = 1062
	errLockWaitTimeout = 1205
	errLockDeadlock    = 1213
	errUnknownSysVar   = 1193
)

// Options configures Open.
type Options struct {
	// Logger receives migration and retry messages. Default: discard.
	Logger *slog.Logger
	// MaxOpenConns bounds the pool. Default DefaultMaxOpenConns; at
	// least MinOpenConns.
	MaxOpenConns int
	// SessionIdleTimeout, when positive, is the server's wait_timeout for
	// the store's sessions (whole seconds, rounded up): a client that goes
	// silent for that long — cut off by a partition that drops packets, or
	// frozen — has its session killed by the server, which rolls back its
	// open transaction and frees its row locks. Without it a replica
	// blackholed in the middle of a fenced transaction keeps the leader row
	// locked for hours (wait_timeout's default), and no new leader can bump
	// the epoch (I11). The pool drops idle connections before the server
	// does. Default: the server's wait_timeout.
	SessionIdleTimeout time.Duration
}

// Store is the MySQL/MariaDB implementation of storage.Store.
type Store struct {
	*sqlstore.Store
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database named by a URL of the form
// mysql://user:pass@host:port/db?params and checks it answers. Query
// parameters are go-sql-driver/mysql DSN parameters (tls=true, …); the
// ones the store depends on (parseTime, loc, clientFoundRows, time_zone)
// cannot be overridden. It does not migrate; call Migrate.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	return open(ctx, rawURL, opts, true)
}

// open is Open; without mayReturn the store never uses INSERT … RETURNING,
// as on MySQL, so that the tests on MariaDB cover that path too.
func open(ctx context.Context, rawURL string, opts Options, mayReturn bool) (*Store, error) {
	cfg, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("mysql: store URL %s names no database", redact.URL(rawURL))
	}
	returning, err := probeServer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	maxOpen := opts.MaxOpenConns
	if maxOpen > 0 {
		maxOpen = max(maxOpen, MinOpenConns)
	}
	idle := setSessionIdleTimeout(cfg, opts.SessionIdleTimeout)
	db, err := openDB(ctx, cfg, maxOpen)
	if err != nil {
		return nil, err
	}
	db.SetConnMaxIdleTime(idle)
	d := dialect
	d.Returning = returning && mayReturn
	d.MigrationLocker = migrationLock{name: MigrationLockName(cfg.DBName)}
	return &Store{sqlstore.New(sqlstore.Config{Dialect: d, DB: db, Logger: opts.Logger})}, nil
}

// setSessionIdleTimeout sets the sessions' wait_timeout to d (whole
// seconds, rounded up; nothing when d is not positive) and returns how long
// the pool may keep a connection idle: half of it, at most a minute.
func setSessionIdleTimeout(cfg *mysql.Config, d time.Duration) time.Duration {
	if d <= 0 {
		return time.Minute
	}
	secs := int64((d + time.Second - 1) / time.Second)
	cfg.Params["wait_timeout"] = strconv.FormatInt(secs, 10)
	return min(time.Minute, time.Duration(secs)*time.Second/2)
}

func openDB(ctx context.Context, cfg *mysql.Config, maxOpen int) (*sql.DB, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: configuring connection to %s: %w", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpenConns
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	db.SetConnMaxLifetime(ConnMaxLifetime)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: connecting to %s as %s: %w", cfg.Addr, cfg.User, err)
	}
	return db, nil
}

// probeServer asks the server what the sessions need and what it can do.
// It sets READ COMMITTED sessions, which take no gap locks and so deadlock
// less: MySQL 8 and MariaDB 11.1+ call the variable transaction_isolation,
// older MariaDB only tx_isolation. It reports whether the server takes
// INSERT … RETURNING (MariaDB 10.5 and later; no MySQL).
func probeServer(ctx context.Context, cfg *mysql.Config) (returning bool, err error) {
	probe := cfg.Clone()
	probe.Params = map[string]string{"time_zone": cfg.Params["time_zone"]}
	db, err := openDB(ctx, probe, 1)
	if err != nil {
		return false, err
	}
	defer db.Close()
	name := "transaction_isolation"
	var level string
	if err := db.QueryRowContext(ctx, "SELECT @@SESSION.transaction_isolation").Scan(&level); err != nil {
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != errUnknownSysVar {
			return false, fmt.Errorf("mysql: reading transaction isolation: %w", err)
		}
		name = "tx_isolation"
	}
	cfg.Params[name] = "'READ-COMMITTED'"
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return false, fmt.Errorf("mysql: reading server version: %w", err)
	}
	return mariaDBReturning(version), nil
}

// mariaDBReturning reports whether a server of this VERSION() is MariaDB
// 10.5 or later, whose INSERT takes a RETURNING clause.
func mariaDBReturning(version string) bool {
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		return false
	}
	// Some clients see the replication prefix "5.5.5-" before it.
	version = strings.TrimPrefix(version, "5.5.5-")
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 10 || major == 10 && minor >= 5
}

// parseURL translates a mysql:// URL into a driver configuration.
func parseURL(raw string) (*mysql.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's message quotes the URL, password included.
		return nil, errors.New("mysql: store URL is not a valid URL: want mysql://user:pass@host:port/db")
	}
	if u.Scheme != "mysql" || u.Host == "" {
		return nil, fmt.Errorf("mysql: store URL %s: want mysql://user:pass@host:port/db", redact.URL(raw))
	}
	// Defaults first, so that the URL's own parameters override them.
	params := url.Values{}
	params.Set("parseTime", "true")
	params.Set("loc", "UTC")
	params.Set("timeout", DialTimeout.String())
	params.Set("readTimeout", IOTimeout.String())
	params.Set("writeTimeout", IOTimeout.String())
	params.Set("clientFoundRows", "true")
	params.Set("interpolateParams", "true")
	query := params.Encode()
	if u.RawQuery != "" {
		query += "&" + u.RawQuery
	}
	cfg, err := mysql.ParseDSN("/?" + query)
	if err != nil {
		return nil, fmt.Errorf("mysql: store URL %s: %w", redact.URL(raw), err)
	}
	cfg.Net = "tcp"
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = DefaultPort
	}
	cfg.Addr = net.JoinHostPort(host, port)
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	// What the queries rely on: times in UTC, matched (not changed) row
	// counts for compare-and-set updates.
	cfg.ParseTime, cfg.Loc, cfg.ClientFoundRows = true, time.UTC, true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg, nil
}

// dialect is the MySQL dialect but for its MigrationLocker, which Open adds
// because the lock is named after the store's database.
var dialect = sqlstore.Dialect{
	Name:       "mysql",
	DriverName: "mysql",
	Goose:      goose.DialectMySQL,
	Migrations: migrations.MySQL,
	Time:       func(t time.Time) any { return t },
	ForUpdate:  " FOR UPDATE",
	SkipLocked: " SKIP LOCKED",
	UseIndex:   func(name string) string { return " FORCE INDEX (" + name + ")" },
	// Unlike INSERT IGNORE, this skips only duplicate keys and still
	// fails on every other error (too long, bad value).
	SkipDuplicates: " ON DUPLICATE KEY UPDATE id = id",
	Upsert:         func(string) string { return "ON DUPLICATE KEY UPDATE" },
	Inserted:       func(col string) string { return "VALUES(" + col + ")" },
	NowQuery:       "SELECT NOW(6)",
	Classify:       classify,
}

func classify(err error) sqlstore.ErrorKind {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return sqlstore.KindOther
	}
	switch me.Number {
	case errDupEntry:
		return sqlstore.KindDuplicate
	case errLockDeadlock, errLockWaitTimeout:
		return sqlstore.KindTransient
	}
	return sqlstore.KindOther
}
