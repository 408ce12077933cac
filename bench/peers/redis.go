package peers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

const (
	redisConnectTimeout = 2 * time.Second
	redisIOTimeout      = 3 * time.Second
)

// newRedisPool returns a bounded pool of connections to database db at
// addr: size connections at most, borrowers wait for a free one.
func newRedisPool(addr string, db, size int) *redis.Pool {
	return &redis.Pool{
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return dialRedis(ctx, addr, db)
		},
		MaxIdle:     size,
		MaxActive:   size,
		Wait:        true,
		IdleTimeout: time.Minute,
	}
}

func dialRedis(ctx context.Context, addr string, db int) (redis.Conn, error) {
	c, err := redis.DialContext(ctx, "tcp", addr,
		redis.DialConnectTimeout(redisConnectTimeout),
		redis.DialReadTimeout(redisIOTimeout),
		redis.DialWriteTimeout(redisIOTimeout),
		redis.DialDatabase(db))
	if err != nil {
		return nil, fmt.Errorf("connecting to Redis %s db %d: %w", addr, db, err)
	}
	return c, nil
}

// redisDo runs one command on its own connection to database db at addr.
func redisDo(ctx context.Context, addr string, db int, cmd string, args ...any) (any, error) {
	c, err := dialRedis(ctx, addr, db)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r, err := redis.DoContext(c, ctx, cmd, args...)
	if err != nil {
		return nil, fmt.Errorf("Redis %s: %w", cmd, err)
	}
	return r, nil
}

// deleteKeys deletes every key of database 0 at addr starting with prefix
// and returns how many it deleted.
func deleteKeys(ctx context.Context, addr, prefix string) (int, error) {
	if prefix == "" {
		return 0, fmt.Errorf("peers: refusing to delete keys with an empty prefix")
	}
	c, err := dialRedis(ctx, addr, 0)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	pattern := globEscaper.Replace(prefix) + "*"
	deleted, cursor := 0, "0"
	for {
		r, err := redis.Values(redis.DoContext(c, ctx, "SCAN", cursor, "MATCH", pattern, "COUNT", 1000))
		if err != nil {
			return deleted, fmt.Errorf("scanning keys %s: %w", pattern, err)
		}
		var keys []any
		if _, err := redis.Scan(r, &cursor, &keys); err != nil {
			return deleted, fmt.Errorf("scanning keys %s: %w", pattern, err)
		}
		if len(keys) > 0 {
			n, err := redis.Int(redis.DoContext(c, ctx, "DEL", keys...))
			if err != nil {
				return deleted, fmt.Errorf("deleting keys %s: %w", pattern, err)
			}
			deleted += n
		}
		if cursor == "0" {
			return deleted, nil
		}
	}
}

var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
