package testredis

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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

const ioTimeout = 5 * time.Second

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
			t.Skipf("testredis: Redis unreachable (%s=1): %v", EnvSkip, err)
		}
		t.Fatalf("testredis: Redis at %s unreachable: %v (start it, e.g. with scripts/test.sh, or set %s=1 to skip)", redact.URL(url), err, EnvSkip)
	}
	defer c.close()
	if _, err := c.do("PING"); err != nil {
		t.Fatalf("testredis: pinging %s: %v", redact.URL(url), err)
	}
	prefix = newPrefix(t.Name())
	t.Cleanup(func() {
		if _, err := DeleteKeys(url, prefix); err != nil {
			t.Errorf("testredis: cleaning up keys of %s: %v", prefix, err)
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
		panic(fmt.Sprintf("testredis: reading random bytes: %v", err))
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
		return 0, fmt.Errorf("refusing to delete keys of %q: not a testredis prefix", prefix)
	}
	c, err := dial(url)
	if err != nil {
		return 0, err
	}
	defer c.close()
	deleted := 0
	for _, pattern := range Patterns(prefix) {
		keys, err := c.scan(pattern)
		if err != nil {
			return deleted, err
		}
		for start := 0; start < len(keys); start += 1000 {
			args := append([]string{"DEL"}, keys[start:min(start+1000, len(keys))]...)
			n, err := c.do(args...)
			if err != nil {
				return deleted, fmt.Errorf("deleting keys of %s: %w", pattern, err)
			}
			if v, ok := n.(int64); ok {
				deleted += int(v)
			}
		}
	}
	return deleted, nil
}

// conn is a minimal RESP2 client: enough for PING, AUTH, SELECT, SCAN, DEL.
type conn struct {
	nc net.Conn
	br *bufio.Reader
}

// respError is an error reply from the server.
type respError string

func (e respError) Error() string { return string(e) }

func dial(raw string) (*conn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", EnvURL, err)
	}
	if u.Scheme != "redis" {
		return nil, fmt.Errorf("%s: scheme must be redis", redact.URL(raw))
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	nc, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, br: bufio.NewReader(nc)}
	if pw, ok := u.User.Password(); ok && pw != "" {
		args := []string{"AUTH", pw}
		if user := u.User.Username(); user != "" {
			args = []string{"AUTH", user, pw}
		}
		if _, err := c.do(args...); err != nil {
			c.close()
			return nil, fmt.Errorf("authenticating: %w", err)
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" && db != "0" {
		if _, err := c.do("SELECT", db); err != nil {
			c.close()
			return nil, fmt.Errorf("selecting database %s: %w", db, err)
		}
	}
	return c, nil
}

func (c *conn) close() { c.nc.Close() }

// scan returns every key matching pattern.
func (c *conn) scan(pattern string) ([]string, error) {
	var keys []string
	cursor := "0"
	for {
		r, err := c.do("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
		if err != nil {
			return nil, fmt.Errorf("scanning %s: %w", pattern, err)
		}
		arr, ok := r.([]any)
		if !ok || len(arr) != 2 {
			return nil, fmt.Errorf("scanning %s: unexpected reply %v", pattern, r)
		}
		page, _ := arr[1].([]any)
		for _, k := range page {
			if s, ok := k.(string); ok {
				keys = append(keys, s)
			}
		}
		next, _ := arr[0].(string)
		if next == "0" || next == "" {
			return keys, nil
		}
		cursor = next
	}
}

// do sends one command and reads its reply: string, int64, nil, []any or a
// respError.
func (c *conn) do(args ...string) (any, error) {
	if err := c.nc.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.nc.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	r, err := c.read()
	if err != nil {
		return nil, err
	}
	if e, ok := r.(respError); ok {
		return nil, e
	}
	return r, nil
}

func (c *conn) read() (any, error) {
	line, err := c.br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("bad bulk length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		p := make([]byte, n+2)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return nil, err
		}
		return string(p[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("bad array length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}
