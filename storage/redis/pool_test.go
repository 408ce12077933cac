package redis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewPoolURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		wantErr bool
	}{
		{"redis://127.0.0.1:6379/0", false},
		{"redis://127.0.0.1:6379", false},
		{"redis://:secret@redis.internal:6380/3", false},
		{"rediss://user:secret@redis.internal:6380/0", false},
		{"http://127.0.0.1:6379/0", true},
		{"127.0.0.1:6379", true},
		{"redis:///0", true},
		{"redis://127.0.0.1:99999/0", true},
		{"redis://127.0.0.1:6379/db", true},
		{"redis://127.0.0.1:6379/-1", true},
		{"redis://[::1:6379/0", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			p, err := NewPool(tt.url)
			if tt.wantErr {
				if !errors.Is(err, ErrBadURL) {
					t.Fatalf("NewPool(%q) error = %v, want ErrBadURL", tt.url, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewPool(%q): %v", tt.url, err)
			}
			p.Close()
		})
	}
}

func TestPoolRedactsPassword(t *testing.T) {
	t.Parallel()
	p, err := NewPool("redis://:hunter2@127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if strings.Contains(p.String(), "hunter2") {
		t.Errorf("String() = %q shows the password", p.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = p.Ping(ctx)
	if err == nil {
		t.Fatal("Ping on a closed port succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q shows the password", err)
	}
	if _, err := NewPool("http://:hunter2@x/0"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("NewPool error %v: want an error without the password", err)
	}
}

func TestPoolPing(t *testing.T) {
	t.Parallel()
	p, _ := newTestPool(t)
	if err := p.Ping(ctxT(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestKeyPrefixAndCluster(t *testing.T) {
	t.Parallel()
	if got := KeyPrefix("prod"); got != "tock:{prod}:" {
		t.Errorf("KeyPrefix(prod) = %q", got)
	}
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"", DefaultCluster, false},
		{"prod-eu_1.a", "prod-eu_1.a", false},
		{"a b", "", true},
		{"a}b", "", true},
		{"a*", "", true},
		{strings.Repeat("x", 101), "", true},
	}
	for _, tt := range tests {
		got, err := checkCluster(tt.in)
		if tt.wantErr != (err != nil) || got != tt.want {
			t.Errorf("checkCluster(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrBadCluster) {
			t.Errorf("checkCluster(%q) error %v is not ErrBadCluster", tt.in, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := backoff{min: 50 * time.Millisecond, max: 300 * time.Millisecond}
	want := []time.Duration{50, 100, 200, 300, 300}
	for i, w := range want {
		if got := b.next(); got != w*time.Millisecond {
			t.Fatalf("step %d: next() = %s, want %s", i, got, w*time.Millisecond)
		}
	}
	b.reset()
	if got := b.next(); got != 50*time.Millisecond {
		t.Fatalf("after reset: next() = %s, want 50ms", got)
	}
}
