// Package testdb gives integration tests their own MySQL/MariaDB database:
// MySQLURL creates a fresh, empty database on the test server and drops it
// when the test ends, so tests run in parallel without sharing state.
//
// It is for tests only. It talks to the server through storage/mysql (no
// SQL driver is imported outside storage/), and it skips a test only when
// asked to (TOCK_TEST_SKIP_MYSQL=1): an unreachable server fails loudly.
package testdb
