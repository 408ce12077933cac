package chaos

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
)

func TestConfig(t *testing.T) {
	cfg, err := jobfile.Parse("chaos.yaml", []byte(Config(20)))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Jobs) != 20 {
		t.Fatalf("%d jobs, want 20", len(cfg.Jobs))
	}
	sleepers := 0
	for _, j := range cfg.Jobs {
		if j.Shell != "" {
			sleepers++
		}
		if j.Misfire != jobs.MisfireRunAll || j.Concurrency != jobs.ConcurrencyAllow || j.MaxAttempts() != 3 {
			t.Errorf("%s: misfire %s, concurrency %s, %d attempts", j.Name, j.Misfire, j.Concurrency, j.MaxAttempts())
		}
	}
	if sleepers != 5 {
		t.Errorf("%d sleeping jobs, want 5", sleepers)
	}
}

func TestMedianAndMax(t *testing.T) {
	ds := []time.Duration{3 * time.Second, time.Second, 2 * time.Second}
	if m := median(ds); m != 2*time.Second {
		t.Errorf("median = %s", m)
	}
	if m := maxOf(ds); m != 3*time.Second {
		t.Errorf("max = %s", m)
	}
	if median(nil) != 0 || maxOf(nil) != 0 {
		t.Error("empty figures not zero")
	}
}

func TestPrivateRedisRestart(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server")
	}
	ctx := context.Background()
	r, err := StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(syscall.SIGKILL) })
	if _, err := r.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Do("PING"); err == nil {
		t.Fatal("a stopped Redis answers")
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// No persistence: a restart loses every key.
	if n, err := r.Do("EXISTS", "k"); err != nil || n != "0" {
		t.Errorf("EXISTS k after restart = %q, %v; want 0", n, err)
	}
	if ok, err := r.Do("FLUSHALL"); err != nil || ok != "OK" {
		t.Errorf("FLUSHALL = %q, %v", ok, err)
	}
}

func TestPrivateMariaDBRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MariaDB server")
	}
	if _, err := lookPath("mariadbd", "/usr/sbin/mariadbd"); err != nil {
		t.Skip("no mariadbd")
	}
	ctx := context.Background()
	m, err := StartMariaDB(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(syscall.SIGKILL) })
	if err := m.CreateDatabase(ctx, "tock"); err != nil {
		t.Fatal(err)
	}
	if err := m.exec(ctx, "CREATE TABLE tock.t (id INT PRIMARY KEY); INSERT INTO tock.t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	// A crash: the committed row must survive the restart.
	if err := m.Stop(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := m.exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a stopped MariaDB answers")
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := m.query(ctx, "SELECT COUNT(*) FROM tock.t"); err != nil || got != "1" {
		t.Errorf("rows after the crash: %q, %v; want 1", got, err)
	}
}
