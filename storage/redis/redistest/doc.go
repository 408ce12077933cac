// Package redistest gives each test its own slice of the test Redis: a URL
// and a key prefix unique to the test, whose keys are deleted when the test
// ends. It fails the test loudly when Redis is unreachable, unless
// TOCK_TEST_SKIP_REDIS=1, so a missing Redis never passes silently.
//
// It lives beside storage/redis so that the Redis driver (redigo) stays
// under storage/; it does not import storage/redis, so that package's own
// tests can use it. It is for tests only and must never be imported by
// production code.
package redistest
