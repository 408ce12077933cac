// Package mysqltest gives integration tests their own MySQL/MariaDB
// database: NewDatabase creates a fresh, empty database on the test server
// and drops it when the test ends, so tests run in parallel without sharing
// state.
//
// It lives beside storage/mysql so that the SQL driver stays under
// storage/; it does not import storage/mysql, so that package's own tests
// can use it. It is for tests only and must never be imported by
// production code. It skips a test only when asked to
// (TOCK_TEST_SKIP_MYSQL=1): an unreachable server fails loudly.
package mysqltest
