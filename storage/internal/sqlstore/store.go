package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"

	"github.com/tock-sched/tock/storage"
)

const (
	// maxTxTries bounds how often a transaction that hit a transient error
	// (deadlock, lock wait timeout, busy database) is tried in all.
	maxTxTries = 6
	// retryBaseDelay is the first pause before retrying a transaction; it
	// doubles with each retry, with jitter.
	retryBaseDelay = 5 * time.Millisecond
	// chunkRows bounds the rows of one multi-row statement, keeping it
	// below every engine's limit on bound parameters.
	chunkRows = 500
	// batchLimit bounds the runs one reaping or failing call changes, so a
	// transaction stays short; the caller's next round takes the rest.
	batchLimit = 1000
)

// errNoLeader means the schema lacks its seeded leader row.
var errNoLeader = errors.New("leader row missing: is the store migrated?")

// Config configures a Store.
type Config struct {
	// Dialect describes the engine. Required.
	Dialect Dialect
	// DB runs writes and write transactions. Required.
	DB *sql.DB
	// ReadDB runs reads that need no lock; nil means DB. SQLite gives a
	// separate pool here so that readers never wait for the single writer.
	ReadDB *sql.DB
	// Logger receives migration and retry messages. Default: discard.
	Logger *slog.Logger
	// Now tells the time for the few writes whose time the caller does not
	// give (BumpEpoch's updated_at). Default time.Now.
	Now func() time.Time
}

// Store implements storage.Store on a SQL database.
type Store struct {
	d   Dialect
	w   *sqlx.DB
	r   *sqlx.DB
	log *slog.Logger
	now func() time.Time
}

var _ storage.Store = (*Store)(nil)

// New returns a Store on the given pools; it takes ownership of them and
// closes them in Close.
func New(cfg Config) *Store {
	s := &Store{d: cfg.Dialect, log: cfg.Logger, now: cfg.Now}
	s.w = sqlx.NewDb(cfg.DB, cfg.Dialect.DriverName)
	s.r = s.w
	if cfg.ReadDB != nil && cfg.ReadDB != cfg.DB {
		s.r = sqlx.NewDb(cfg.ReadDB, cfg.Dialect.DriverName)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Migrate applies the dialect's pending migrations with goose, under the
// dialect's migration lock when it has one, so that replicas starting
// together migrate once.
func (s *Store) Migrate(ctx context.Context) error {
	var results []*goose.MigrationResult
	err := s.withMigrationLock(ctx, func(p *goose.Provider) error {
		var err error
		results, err = p.Up(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrating %s store: %w", s.d.Name, err)
	}
	for _, r := range results {
		s.log.Info("schema migration applied", slog.String("store", s.d.Name),
			slog.Int64("version", r.Source.Version), slog.Duration("took", r.Duration))
	}
	return nil
}

// SchemaVersion returns the version of the last migration applied and of
// the newest one this binary knows. It waits for a migration in progress:
// goose creates its version table when it is missing, which must not
// happen beside another process's Migrate.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	err = s.withMigrationLock(ctx, func(p *goose.Provider) error {
		var err error
		current, latest, err = p.GetVersions(ctx)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("reading %s schema version: %w", s.d.Name, err)
	}
	return current, latest, nil
}

// withMigrationLock runs fn with a new goose provider, holding the
// dialect's migration lock, if any, from before the provider exists until
// fn returns. Everything goose does then happens under the lock: its
// HasPending, which Up calls before goose's own locking, creates the
// version table and inserts its version-0 row in two commits on MySQL
// (CREATE TABLE commits implicitly), and another process that looked in
// between found the table without the row: "missing zero version
// migration".
func (s *Store) withMigrationLock(ctx context.Context, fn func(p *goose.Provider) error) error {
	l := s.d.MigrationLocker
	if l == nil {
		p, err := s.provider()
		if err != nil {
			return err
		}
		return fn(p)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("setting a connection aside for the migration lock: %w", err)
	}
	if err := l.Lock(ctx, conn); err != nil {
		return errors.Join(err, conn.Close())
	}
	defer func() {
		// Unlock even when ctx is done, or the lock would outlive this
		// call for as long as the pool keeps the connection.
		if err := l.Unlock(context.WithoutCancel(ctx), conn); err != nil {
			// The work is done; what matters is that the lock goes.
			// A session lock dies with its session, so close the
			// connection instead of returning it to the pool.
			s.log.Warn("releasing the migration lock failed; closing its connection",
				slog.String("store", s.d.Name), slog.Any("err", err))
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}()
	p, err := s.provider()
	if err != nil {
		return err
	}
	return fn(p)
}

// provider returns a goose provider on the write pool. It must be used
// only inside withMigrationLock.
func (s *Store) provider() (*goose.Provider, error) {
	p, err := goose.NewProvider(s.d.Goose, s.w.DB, s.d.Migrations, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("loading %s migrations: %w", s.d.Name, err)
	}
	return p, nil
}

// Ping checks both pools answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging %s store: %w", s.d.Name, err)
	}
	if s.r != s.w {
		if err := s.r.PingContext(ctx); err != nil {
			return fmt.Errorf("pinging %s store readers: %w", s.d.Name, err)
		}
	}
	return nil
}

// Close closes the pools.
func (s *Store) Close() error {
	var errs []error
	if s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing %s store: %w", s.d.Name, err)
	}
	return nil
}

// write runs fn in a write transaction and commits it, retrying the whole
// transaction on transient errors. fn may run more than once, so it must
// (re)set whatever it returns through its closure on every call.
func (s *Store) write(ctx context.Context, what string, fn func(tx *sqlx.Tx) error) error {
	return s.retry(ctx, what, func() error { return s.inTx(ctx, s.w, s.d.WriteTx, fn) })
}

// read runs fn in a read-only transaction on the read pool, so that its
// queries see one snapshot.
func (s *Store) read(ctx context.Context, what string, fn func(tx *sqlx.Tx) error) error {
	return s.retry(ctx, what, func() error { return s.inTx(ctx, s.r, &sql.TxOptions{ReadOnly: true}, fn) })
}

// query runs fn, plain reads on the read pool, retrying on transient errors.
func (s *Store) query(ctx context.Context, what string, fn func(db *sqlx.DB) error) error {
	return s.retry(ctx, what, func() error { return fn(s.r) })
}

func (s *Store) inTx(ctx context.Context, db *sqlx.DB, opts *sql.TxOptions, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := db.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if err != nil {
			// The error that matters is fn's or Commit's.
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

func (s *Store) retry(ctx context.Context, what string, op func() error) error {
	delay := retryBaseDelay
	for try := 1; ; try++ {
		err := op()
		if err == nil {
			return nil
		}
		if try >= maxTxTries || s.d.Classify(err) != KindTransient || ctx.Err() != nil {
			return s.translate(what, err)
		}
		s.log.Debug("retrying transaction after transient error", slog.String("op", what),
			slog.Int("try", try), slog.Any("error", err))
		pause := delay/2 + rand.N(delay)
		delay *= 2
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return s.translate(what, err)
		case <-t.C:
		}
	}
}

// translate maps driver errors to the storage sentinels and says what was
// being done.
func (s *Store) translate(what string, err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	case isSentinel(err):
		return fmt.Errorf("%s: %w", what, err)
	case s.d.Classify(err) == KindDuplicate:
		return fmt.Errorf("%s: %w: %v", what, storage.ErrDuplicate, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isSentinel(err error) bool {
	for _, e := range []error{storage.ErrNotFound, storage.ErrDuplicate, storage.ErrFenced,
		storage.ErrNotClaimed, storage.ErrLeaseLost, storage.ErrConflict, storage.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// fence locks the leader row and fails with ErrFenced unless its epoch is
// still epoch (I2). It is the first statement of every fenced transaction.
func (s *Store) fence(ctx context.Context, tx *sqlx.Tx, epoch int64) error {
	var stored int64
	if err := tx.GetContext(ctx, &stored, "SELECT epoch FROM leader WHERE id = 1"+s.d.ForUpdate); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return errNoLeader
		}
		return fmt.Errorf("reading leader epoch: %w", err)
	}
	if stored != epoch {
		return fmt.Errorf("%w (stored epoch %d, ours %d)", storage.ErrFenced, stored, epoch)
	}
	return nil
}

// currentEpoch reads the leader epoch inside tx without locking the leader
// row: a claim stamps it on the attempts it opens. A plain read is enough
// (the epoch only grows, and a statement sees every bump committed before
// it), and taking a lock here, after the claim has locked runs, would
// invert the order of fenced transactions (leader row, then runs) and
// deadlock with them on MySQL.
func (s *Store) currentEpoch(ctx context.Context, tx *sqlx.Tx) (int64, error) {
	var epoch int64
	if err := tx.GetContext(ctx, &epoch, "SELECT epoch FROM leader WHERE id = 1"); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, errNoLeader
		}
		return 0, fmt.Errorf("reading leader epoch: %w", err)
	}
	return epoch, nil
}

// t converts a time to its column value: UTC, microsecond precision.
func (s *Store) t(v time.Time) any { return s.d.Time(utc(v)) }

// nt is t for a nullable column: the zero time is NULL.
func (s *Store) nt(v time.Time) any {
	if v.IsZero() {
		return nil
	}
	return s.t(v)
}

// utc is the stored form of a time: UTC, microseconds, no monotonic reading.
func utc(v time.Time) time.Time { return v.UTC().Truncate(time.Microsecond) }

// text makes s storable in a utf8mb4 column: invalid UTF-8 (captured
// output, hostile input) becomes U+FFFD instead of failing the statement.
func text(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// placeholders returns "(?, ?, …)" with n marks.
func placeholders(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// in expands query's IN (?) lists for args and runs it through sqlx.In; it
// must not be given empty slices.
func in(query string, args ...any) (string, []any, error) {
	q, a, err := sqlx.In(query, args...)
	if err != nil {
		return "", nil, fmt.Errorf("expanding IN list: %w", err)
	}
	return q, a, nil
}

// chunks calls fn with consecutive index ranges of at most size elements
// covering [0, n).
func chunks(n, size int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += size {
		if err := fn(lo, min(lo+size, n)); err != nil {
			return err
		}
	}
	return nil
}

// chunkExec runs the statements of a write cut into chunks. The statement of
// a full chunk is the same text every time; where the dialect asks for it
// (PrepareChunks) it is prepared once for the transaction, which on SQLite
// saves parsing a thousand-placeholder INSERT for every 500 rows of a
// million-job schedule's first cursors.
type chunkExec struct {
	ctx  context.Context
	tx   *sqlx.Tx
	full string
	stmt *sql.Stmt
}

// newChunkExec returns a chunkExec whose full-chunk statement is full,
// prepared now when prepare is set (a failed prepare falls back to plain
// execution).
func newChunkExec(ctx context.Context, tx *sqlx.Tx, prepare bool, full string) *chunkExec {
	e := &chunkExec{ctx: ctx, tx: tx, full: full}
	if prepare {
		if stmt, err := tx.PrepareContext(ctx, full); err == nil {
			e.stmt = stmt
		}
	}
	return e
}

// exec runs query with args, or the full-chunk statement when query is "".
func (e *chunkExec) exec(query string, args []any) error {
	var err error
	switch {
	case query != "":
		_, err = e.tx.ExecContext(e.ctx, query, args...)
	case e.stmt != nil:
		_, err = e.stmt.ExecContext(e.ctx, args...)
	default:
		_, err = e.tx.ExecContext(e.ctx, e.full, args...)
	}
	return err
}

// close releases the prepared statement, if any.
func (e *chunkExec) close() {
	if e.stmt != nil {
		_ = e.stmt.Close()
	}
}

// execOne runs a statement that must change a row, and returns none when
// it matched no row (drivers report matched rows: see the MySQL DSN).
func execOne(ctx context.Context, tx *sqlx.Tx, none error, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}
