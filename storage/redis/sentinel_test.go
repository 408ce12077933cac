package redis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/tock-sched/tock/storage/redis/redistest"
)

func TestNewPoolURLs(t *testing.T) {
	for _, tc := range []struct {
		url     string
		wantErr string // "" for a valid URL
		shown   string // String(), for valid URLs
	}{
		{url: "redis://127.0.0.1:6379/0", shown: "redis://127.0.0.1:6379/0"},
		{url: "rediss://app:s3cret@redis.example:6380/2", shown: "rediss://app:xxxxx@redis.example:6380/2"},
		{url: "redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster", shown: "redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster"},
		{url: "rediss+sentinel://app:s3cret@s1:26379/mymaster/3?sentinel_password=x&tls_server_name=redis.example",
			shown: "rediss+sentinel://app:xxxxx@s1:26379/mymaster/3"},
		{url: "redis+sentinel://s1:26379", wantErr: "no master name"},
		{url: "redis+sentinel://s1/mymaster", wantErr: `sentinel address "s1" is not host:port`},
		{url: "redis+sentinel://s1:0/mymaster", wantErr: "bad port"},
		{url: "redis+sentinel://s1:26379/mymaster/x", wantErr: "database must be a number"},
		{url: "redis+sentinel://s1:26379/mymaster?master=x", wantErr: `unknown parameter "master"`},
		{url: "redis+sentinel://s1:26379/mymaster?tls_server_name=x", wantErr: "needs the rediss+sentinel scheme"},
		{url: "memcache://h:1", wantErr: "scheme must be redis, rediss, redis+sentinel or rediss+sentinel"},
	} {
		p, err := NewPool(tc.url)
		if tc.wantErr != "" {
			if err == nil || !errors.Is(err, ErrBadURL) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewPool(%q) = %v, want ErrBadURL containing %q", tc.url, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("NewPool(%q): error shows the password: %v", tc.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewPool(%q): %v", tc.url, err)
			continue
		}
		if p.String() != tc.shown {
			t.Errorf("NewPool(%q).String() = %q, want %q", tc.url, p.String(), tc.shown)
		}
		p.Close()
	}
}

// TestSentinelFailover: a pool on a redis+sentinel URL writes to the
// master; once the master is killed and the sentinel has promoted the
// replica, the same pool writes to the new master, and a lease on it can
// be acquired again.
func TestSentinelFailover(t *testing.T) {
	set := redistest.StartSentinel(t, 500*time.Millisecond)
	p, err := NewPool(set.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := ctxT(t)
	if _, err := p.do(ctx, "SET", "before", "1"); err != nil {
		t.Fatalf("SET through the sentinel: %v", err)
	}
	// Replication is asynchronous: wait until the replica has the write,
	// so that the promoted replica must show it.
	if n, err := redigo.Int(p.do(ctx, "WAIT", 1, 5000)); err != nil || n < 1 {
		t.Fatalf("WAIT for the replica: %d replicas, %v", n, err)
	}
	if got := serverRunID(t, p); got != runID(t, set.Master.Addr) {
		t.Fatalf("the pool reached server %s, not the master", got)
	}

	set.Master.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := p.do(cctx, "SET", "after", "2")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write accepted within 30s of killing the master: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := serverRunID(t, p); got != runID(t, set.Replica.Addr) {
		t.Fatalf("after the failover the pool reached %s, not the promoted replica", got)
	}
	c, err := redigo.Dial("tcp", set.Replica.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"before", "after"} {
		if v, err := redigo.String(c.Do("GET", k)); err != nil {
			t.Errorf("GET %s on the promoted replica: %v", k, err)
		} else if v == "" {
			t.Errorf("GET %s on the promoted replica: empty", k)
		}
	}
}

// serverRunID is the run_id of the server a pooled connection reaches.
func serverRunID(t *testing.T, p *Pool) string {
	t.Helper()
	info, err := redigo.String(p.do(ctxT(t), "INFO", "server"))
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	return infoField(info, "run_id")
}

func runID(t *testing.T, addr string) string {
	t.Helper()
	c, err := redigo.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := redigo.String(c.Do("INFO", "server"))
	if err != nil {
		t.Fatal(err)
	}
	return infoField(info, "run_id")
}

func infoField(info, key string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}

// fakeConn answers every command with a fixed reply.
type fakeConn struct {
	redigo.Conn
	err error
}

func (c fakeConn) Err() error                     { return nil }
func (c fakeConn) Do(string, ...any) (any, error) { return nil, c.err }
func (c fakeConn) DoContext(context.Context, string, ...any) (any, error) {
	return nil, c.err
}
func (c fakeConn) ReceiveContext(context.Context) (any, error) { return nil, c.err }

// TestRoleConnDropsReadonly: a connection whose server answered READONLY
// reports an error, so the pool does not lend it again; other error
// replies leave it usable.
func TestRoleConnDropsReadonly(t *testing.T) {
	ok := &roleConn{Conn: fakeConn{err: redigo.Error("WRONGTYPE Operation against a key holding the wrong kind of value")}}
	ok.Do("GET", "k")
	if err := ok.Err(); err != nil {
		t.Errorf("after WRONGTYPE: Err() = %v, want nil", err)
	}
	ro := &roleConn{Conn: fakeConn{err: redigo.Error("READONLY You can't write against a read only replica.")}}
	if _, err := redigo.DoContext(ro, context.Background(), "SET", "k", "v"); err == nil {
		t.Fatal("SET: want the READONLY error")
	}
	if err := ro.Err(); err == nil || !strings.Contains(err.Error(), "replica") {
		t.Errorf("after READONLY: Err() = %v, want an error", err)
	}
}
