package redis

import "errors"

// Errors returned when options or URLs are invalid.
var (
	// ErrBadURL: the Redis URL is not one NewPool reads (redis://, rediss://,
	// redis+sentinel://, rediss+sentinel://).
	ErrBadURL = errors.New("redis: NewPool: bad Redis URL")
	// ErrBadCluster: the cluster name is empty or has characters outside
	// [A-Za-z0-9_.-].
	ErrBadCluster = errors.New("redis: cluster name must match [A-Za-z0-9_.-]{1,100}")
	// ErrBadLeaseOptions: TTL, Margin or Token do not make a usable lease.
	ErrBadLeaseOptions = errors.New("redis: NewLease: bad options")
	// ErrBadQueueOptions: Block is outside the allowed range.
	ErrBadQueueOptions = errors.New("redis: NewQueue: bad options")
)
