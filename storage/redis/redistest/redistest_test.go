package redistest

import (
	"regexp"
	"strings"
	"testing"
)

func TestNewPrefix(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^t-[A-Za-z0-9_.-]+-[0-9a-f]{12}$`)
	tests := []string{"TestX", "TestX/sub case #1", "Test{braces}*?[glob]", strings.Repeat("L", 200)}
	for _, name := range tests {
		p := newPrefix(name)
		if !valid.MatchString(p) || len(p) > 100 {
			t.Errorf("newPrefix(%q) = %q: not a safe, bounded cluster name", name, p)
		}
		if newPrefix(name) == p {
			t.Errorf("newPrefix(%q) repeated %q", name, p)
		}
	}
}

func TestURL(t *testing.T) {
	t.Setenv(EnvURL, "")
	t.Setenv(EnvAddr, "")
	if got := URL(); got != "redis://"+DefaultAddr+"/0" {
		t.Errorf("default URL = %q", got)
	}
	t.Setenv(EnvAddr, "127.0.0.1:6390")
	if got := URL(); got != "redis://127.0.0.1:6390/0" {
		t.Errorf("URL with %s = %q", EnvAddr, got)
	}
	t.Setenv(EnvURL, "redis://:pw@h:1/2")
	if got := URL(); got != "redis://:pw@h:1/2" {
		t.Errorf("URL with %s = %q", EnvURL, got)
	}
}

func TestDialUnreachable(t *testing.T) {
	t.Parallel()
	if _, err := dial("redis://127.0.0.1:1/0"); err == nil {
		t.Error("dial to a closed port succeeded")
	}
	if _, err := dial("http://127.0.0.1:6379/0"); err == nil {
		t.Error("dial with a wrong scheme succeeded")
	}
}

func TestDeleteKeysRefusesForeignPrefixes(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "tock", "t-*", "t-a b"} {
		if _, err := DeleteKeys(URL(), p); err == nil {
			t.Errorf("DeleteKeys(%q) was allowed", p)
		}
	}
}

func TestCleanupDeletesOnlyOwnKeys(t *testing.T) {
	t.Parallel()
	var url, prefix string
	t.Run("user", func(t *testing.T) {
		url, prefix = New(t)
		c, err := dial(url)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, k := range []string{prefix + ":raw", "tock:{" + prefix + "}:leader", "tock:{" + prefix + "}:queue"} {
			if _, err := c.Do("SET", k, "v"); err != nil {
				t.Fatal(err)
			}
		}
	})
	c, err := dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A neighbour whose name extends ours must survive.
	neighbour := "tock:{" + prefix + "x}:leader"
	if _, err := c.Do("SET", neighbour, "v"); err != nil {
		t.Fatal(err)
	}
	defer c.Do("DEL", neighbour)
	for _, pattern := range Patterns(prefix) {
		keys, err := scan(c, pattern)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 0 {
			t.Errorf("keys left after cleanup: %v", keys)
		}
	}
	if n, err := c.Do("EXISTS", neighbour); err != nil || n != int64(1) {
		t.Errorf("neighbour key deleted: EXISTS = %v, %v", n, err)
	}
}
