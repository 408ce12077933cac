// Package mysql is tock's distributed Store on MySQL 8 or MariaDB (10.5 and
// later), through sqlx and go-sql-driver/mysql. The queries are shared with
// the SQLite store (storage/internal/sqlstore); this package translates
// mysql:// URLs into driver settings, sizes the pool and describes the
// MySQL dialect.
//
// Sessions run in UTC (time_zone '+00:00', DATETIME(6) columns) at READ
// COMMITTED, with bounded dial, read and write timeouts. Migrate holds
// GET_LOCK('tock_migrate:<database>') on a connection of its own for the
// whole of goose's work, its version-table checks included, so replicas
// starting together migrate once. Deadlocks and lock wait timeouts are
// retried inside the store.
//
// It must not let driver types or DSNs with passwords out of the package:
// errors name what was being done, never the credentials.
package mysql
