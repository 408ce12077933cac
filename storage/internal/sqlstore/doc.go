// Package sqlstore is the one implementation of storage.Store on SQL (sqlx),
// shared by the SQLite and the MySQL/MariaDB stores. What differs between the
// engines — placeholders for upserts and duplicate-skipping inserts, row
// locks, how a time is stored, which driver errors are duplicates or
// transient, the migration lock — is a Dialect value that the driver
// packages (storage/sqlite, storage/mysql) fill in; the queries are written
// once, here.
//
// It must not import a SQL driver, and its methods speak only the domain
// (jobs.Run, storage.Node): driver errors are classified through the Dialect
// and translated to the storage sentinel errors at the edge (no rows →
// ErrNotFound, duplicate key → ErrDuplicate); any other error is wrapped
// with what was being done. It does not open connections; the driver
// packages hand it their pools. Every value reaches SQL as a bound
// parameter; only fixed column lists and placeholders are concatenated.
package sqlstore
