// Package testredis gives each test its own slice of the test Redis: a URL
// and a key prefix unique to the test, whose keys are deleted when the test
// ends. It fails the test loudly when Redis is unreachable, unless
// TOCK_TEST_SKIP_REDIS=1, so a missing Redis never passes silently.
//
// It speaks the Redis protocol itself (a few commands over one connection)
// so that no package outside storage/ imports a Redis driver
// (docs/design.md#layout) and storage/redis's own tests can use it without
// an import cycle. It is for tests only and must never be imported by
// production code.
package testredis
