// Package redis implements the distributed Lease (I3) and Queue of
// storage on Redis, through github.com/gomodule/redigo.
//
// Every key of a cluster lives under KeyPrefix(cluster), "tock:{cluster}:",
// so that one Redis (or one Redis Cluster slot, thanks to the hash tag) can
// serve several tock clusters and each test its own prefix:
//
//	tock:{cluster}:leader           the leader lease (string: holder token)
//	tock:{cluster}:leader:released  pub/sub channel, a message per release
//	tock:{cluster}:queue            the doorbell queue (list of JSON items)
//
// Redis is never the truth here. The lease decides who may try to lead, but
// the store fences every dispatch with the leader epoch (I2); the queue is a
// doorbell whose loss loses no run, because the reaper re-enqueues queued
// runs from the store (I4). So this package must not keep run state, must
// not retry in ways that could extend a lease past its local deadline, and
// must not let a redigo type escape its exported API: callers see
// storage.ErrLeaseLost, storage.ErrClosed, context errors and errors
// wrapped with what was being done.
//
// Requirements: Redis 6.2 or newer (fractional BRPOP timeouts since 6.0,
// RPOP with a count, used by Queue.PopMany, since 6.2).
package redis
