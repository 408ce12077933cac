package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/tock-sched/tock/internal/redact"
)

// Environment variables read by New.
const (
	// EnvURL overrides the whole URL, e.g. redis://127.0.0.1:6380/0.
	EnvURL = "TOCK_TEST_REDIS_URL"
	// EnvAddr overrides host:port (database 0) when EnvURL is unset.
	EnvAddr = "TOCK_TEST_REDIS_ADDR"
	// EnvSkip, set to 1, skips tests instead of failing when Redis is
	// unreachable.
	EnvSkip = "TOCK_TEST_SKIP_REDIS"
	// DefaultAddr is the test Redis when neither variable is set.
	DefaultAddr = "127.0.0.1:6379"
)

const (
	dialTimeout = 2 * time.Second
	ioTimeout   = 5 * time.Second
	// batch is the COUNT of one SCAN and the keys of one DEL.
	batch = 1000
)

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// URL returns the URL of the test Redis from the environment.
func URL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	addr := os.Getenv(EnvAddr)
	if addr == "" {
		addr = DefaultAddr
	}
	return "redis://" + addr + "/0"
}

// New returns the test Redis URL and a prefix unique to t, made of
// [A-Za-z0-9_.-] so that it is also a valid tock cluster name. Keys
// starting with prefix, and keys of the tock cluster named prefix
// ("tock:{prefix}:..."), are deleted in t.Cleanup.
func New(t testing.TB) (url, prefix string) {
	t.Helper()
	url = URL()
	c, err := dial(url)
	if err != nil {
		if os.Getenv(EnvSkip) == "1" {
			t.Skipf("redistest: Redis unreachable (%s=1): %v", EnvSkip, err)
		}
		t.Fatalf("redistest: Redis at %s unreachable: %v (start it, e.g. with scripts/test.sh, or set %s=1 to skip)", redact.URL(url), err, EnvSkip)
	}
	defer c.Close()
	if _, err := c.Do("PING"); err != nil {
		t.Fatalf("redistest: pinging %s: %v", redact.URL(url), err)
	}
	prefix = newPrefix(t.Name())
	t.Cleanup(func() {
		if _, err := DeleteKeys(url, prefix); err != nil {
			t.Errorf("redistest: cleaning up keys of %s: %v", prefix, err)
		}
	})
	return url, prefix
}

func newPrefix(name string) string {
	name = unsafeChars.ReplaceAllString(name, "_")
	if len(name) > 60 {
		name = name[:60]
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("redistest: reading random bytes: %v", err))
	}
	return "t-" + name + "-" + hex.EncodeToString(b[:])
}

// Patterns returns the SCAN patterns New's cleanup deletes for prefix.
func Patterns(prefix string) []string {
	return []string{prefix + "*", "tock:{" + prefix + "}:*"}
}

// DeleteKeys deletes every key of prefix (see Patterns) and returns how many
// it deleted. Tests use it to simulate losing Redis's contents (I4).
func DeleteKeys(url, prefix string) (int, error) {
	if !strings.HasPrefix(prefix, "t-") || unsafeChars.MatchString(prefix) {
		return 0, fmt.Errorf("refusing to delete keys of %q: not a redistest prefix", prefix)
	}
	c, err := dial(url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	deleted := 0
	for _, pattern := range Patterns(prefix) {
		keys, err := scan(c, pattern)
		if err != nil {
			return deleted, err
		}
		for start := 0; start < len(keys); start += batch {
			n, err := redigo.Int(c.Do("DEL", redigo.Args{}.AddFlat(keys[start:min(start+batch, len(keys))])...))
			if err != nil {
				return deleted, fmt.Errorf("deleting keys of %s: %w", pattern, err)
			}
			deleted += n
		}
	}
	return deleted, nil
}

// dial connects to the Redis of a redis:// URL, authenticated and on the
// URL's database.
func dial(raw string) (redigo.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	c, err := redigo.DialURLContext(ctx, raw, redigo.DialConnectTimeout(dialTimeout),
		redigo.DialReadTimeout(ioTimeout), redigo.DialWriteTimeout(ioTimeout))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", redact.URL(raw), err)
	}
	return c, nil
}

// scan returns every key matching pattern.
func scan(c redigo.Conn, pattern string) ([]string, error) {
	var keys []string
	cursor := 0
	for {
		page, err := redigo.Values(c.Do("SCAN", cursor, "MATCH", pattern, "COUNT", batch))
		if err != nil {
			return nil, fmt.Errorf("scanning %s: %w", pattern, err)
		}
		var found []string
		if _, err := redigo.Scan(page, &cursor, &found); err != nil {
			return nil, fmt.Errorf("scanning %s: %w", pattern, err)
		}
		keys = append(keys, found...)
		if cursor == 0 {
			return keys, nil
		}
	}
}
