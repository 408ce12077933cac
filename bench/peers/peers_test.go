package peers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/tock-sched/tock/bench/stats"
)

// testAsynqDB is the Redis database the asynq tests flush; tock's tests use
// database 0.
const testAsynqDB = 9

func TestSecondsSpec(t *testing.T) {
	tests := []struct {
		period time.Duration
		want   string
		ok     bool
	}{
		{time.Second, "*/1 * * * * *", true},
		{5 * time.Second, "*/5 * * * * *", true},
		{30 * time.Second, "*/30 * * * * *", true},
		{time.Minute, "0 * * * * *", true},
		{7 * time.Second, "", false},
		{1500 * time.Millisecond, "", false},
		{0, "", false},
		{2 * time.Minute, "", false},
	}
	for _, tt := range tests {
		got, err := secondsSpec(tt.period)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("secondsSpec(%v) = %q, %v; want %q, ok %v", tt.period, got, err, tt.want, tt.ok)
		}
	}
}

func TestScaleSpec(t *testing.T) {
	tests := []struct {
		i, n   int
		spread time.Duration
		want   string
	}{
		{0, 1000, time.Hour, "0 0 * * * *"},
		{500, 1000, time.Hour, "0 30 * * * *"},
		{999, 1000, time.Hour, "56 59 * * * *"},
		{1, 120, time.Minute, "0 * * * * *"},
		{3, 120, time.Minute, "1 * * * * *"},
		{1, 2, 24 * time.Hour, "0 0 12 * * *"},
		{3, 4, 24 * time.Hour, "0 0 18 * * *"},
	}
	for _, tt := range tests {
		got, err := scaleSpec(tt.i, tt.n, tt.spread)
		if err != nil || got != tt.want {
			t.Errorf("scaleSpec(%d, %d, %v) = %q, %v; want %q", tt.i, tt.n, tt.spread, got, err, tt.want)
		}
	}
	if _, err := scaleSpec(0, 10, 2*time.Hour); err == nil {
		t.Error("scaleSpec accepted a 2h spread")
	}
}

func TestWindow(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		now      time.Time
		period   time.Duration
		wantFrom time.Time
	}{
		{base, 5 * time.Second, base.Add(5 * time.Second)},
		{base.Add(100 * time.Millisecond), 5 * time.Second, base.Add(5 * time.Second)},
		{base.Add(4900 * time.Millisecond), 5 * time.Second, base.Add(10 * time.Second)},
		{base.Add(800 * time.Millisecond), time.Second, base.Add(2 * time.Second)},
		{base.Add(700 * time.Millisecond), time.Second, base.Add(time.Second)},
	}
	for _, tt := range tests {
		from, to := window(tt.now, tt.period, 3)
		if !from.Equal(tt.wantFrom) || !to.Equal(tt.wantFrom.Add(3*tt.period)) {
			t.Errorf("window(%v, %v, 3) = %v, %v; want from %v", tt.now, tt.period, from, to, tt.wantFrom)
		}
	}
}

func TestBadArguments(t *testing.T) {
	ctx := t.Context()
	if _, err := Robfig(ctx, 10, 7*time.Second, 1, Body{}); err == nil {
		t.Error("Robfig accepted a 7 s period")
	}
	if _, err := Robfig(ctx, 0, time.Second, 1, Body{}); err == nil {
		t.Error("Robfig accepted n = 0")
	}
	if _, err := Gocron(ctx, 10, 2, time.Second, 1, "127.0.0.1:1", "", Body{}); err == nil {
		t.Error("Gocron accepted an empty key prefix")
	}
	if _, err := Asynq(ctx, 10, 1, 5*time.Second, 1, "127.0.0.1:1", 0, Body{}); err == nil {
		t.Error("Asynq accepted Redis database 0")
	}
	if _, err := RobfigScale(ctx, 10, 2*time.Hour, time.Second); err == nil {
		t.Error("RobfigScale accepted a 2h spread")
	}
}

func TestRobfig(t *testing.T) {
	checkGoroutines(t)
	const n, ticks = 50, 2
	period := time.Second
	f, err := Robfig(t.Context(), n, period, ticks, Body{})
	if err != nil {
		t.Fatal(err)
	}
	checkFire(t, f, RobfigSystem, n, ticks, period)
	if f.Missing != 0 || f.Duplicates != 0 {
		t.Errorf("missing %d, duplicates %d; want none", f.Missing, f.Duplicates)
	}
}

func TestRobfigCancelled(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := Robfig(ctx, 10, 5*time.Second, 2, Body{}); err == nil {
		t.Fatal("Robfig returned no error when its context ended")
	}
}

func TestRobfigScale(t *testing.T) {
	checkGoroutines(t)
	// 120 entries over a minute: two due every second.
	const n = 120
	measure := 2 * time.Second
	s, err := RobfigScale(t.Context(), n, time.Minute, measure)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", s)
	if s.System != RobfigSystem || s.Jobs != n {
		t.Errorf("system %q, jobs %d", s.System, s.Jobs)
	}
	// Two or three second boundaries fall into the two seconds measured.
	if s.FiredPerSec < 1.5 || s.FiredPerSec > 3.5 {
		t.Errorf("fired %.2f/s; want about 2", s.FiredPerSec)
	}
	if s.HeapPerJob <= 0 {
		t.Errorf("heap per job %.0f B; want > 0", s.HeapPerJob)
	}
	if s.Load <= 0 {
		t.Errorf("load %v; want > 0", s.Load)
	}
	if s.CPUFraction < 0 || s.CPUFraction > float64(runtime.NumCPU()) {
		t.Errorf("CPU fraction %.4f out of range", s.CPUFraction)
	}
}

func TestGocron(t *testing.T) {
	addr := redisAddr(t)
	for _, instances := range []int{1, 3} {
		t.Run(strings.Repeat("i", instances), func(t *testing.T) {
			checkGoroutines(t)
			const n, ticks = 50, 2
			period := time.Second
			prefix := "bench:gocron:" + randomHex() + ":"
			f, err := Gocron(t.Context(), n, instances, period, ticks, addr, prefix, Body{})
			if err != nil {
				t.Fatal(err)
			}
			want := "gocron v2 + Redis lock ×1"
			if instances == 3 {
				want = "gocron v2 + Redis lock ×3"
			}
			checkFire(t, f, want, n, ticks, period)
			t.Logf("%s: duplicates %d, missing %d; %s", f.System, f.Duplicates, f.Missing, f.Note)
			// One instance always wins each lock: nothing goes missing.
			if f.Missing != 0 {
				t.Errorf("missing %d; want 0", f.Missing)
			}
			if instances == 1 && f.Duplicates != 0 {
				t.Errorf("one instance ran %d duplicates", f.Duplicates)
			}
			if max := (instances - 1) * n * ticks; f.Duplicates < 0 || f.Duplicates > max {
				t.Errorf("duplicates %d; want 0..%d", f.Duplicates, max)
			}
			if keys := countKeys(t, addr, 0, prefix); keys != 0 {
				t.Errorf("%d keys left under %s", keys, prefix)
			}
		})
	}
}

func TestAsynq(t *testing.T) {
	addr := redisAddr(t)
	for _, schedulers := range []int{1, 3} {
		t.Run(strings.Repeat("s", schedulers), func(t *testing.T) {
			checkGoroutines(t)
			const n, ticks = 50, 2
			period := 2 * time.Second
			f, err := Asynq(t.Context(), n, schedulers, period, ticks, addr, testAsynqDB, Body{})
			if err != nil {
				t.Fatal(err)
			}
			want := "asynq v0.26 (1 scheduler)"
			if schedulers == 3 {
				want = "asynq v0.26 (3 schedulers)"
			}
			checkFire(t, f, want, n, ticks, 0)
			t.Logf("%s: median %s ms, max %s ms, duplicates %d, missing %d; %s", f.System,
				stats.Ms(stats.Median(f.Latencies)), stats.Ms(stats.Max(f.Latencies)), f.Duplicates, f.Missing, f.Note)
			if f.Missing != 0 {
				t.Errorf("missing %d; want 0", f.Missing)
			}
			// Every scheduler enqueues every tick: the others' runs are
			// all duplicates.
			if want := (schedulers - 1) * n * ticks; f.Duplicates != want {
				t.Errorf("duplicates %d; want %d", f.Duplicates, want)
			}
			if keys := countKeys(t, addr, testAsynqDB, ""); keys != 0 {
				t.Errorf("%d keys left in Redis database %d", keys, testAsynqDB)
			}
		})
	}
}

// checkFire checks what every fire result must satisfy; a positive
// maxLatency also bounds each latency.
func checkFire(t *testing.T, f stats.Fire, system string, n, ticks int, maxLatency time.Duration) {
	t.Helper()
	if f.System != system || f.N != n || f.Ticks != ticks || f.Persisted {
		t.Errorf("system %q, n %d, ticks %d, persisted %v; want %q, %d, %d, false",
			f.System, f.N, f.Ticks, f.Persisted, system, n, ticks)
	}
	if len(f.Latencies)+f.Missing != n*ticks {
		t.Errorf("%d latencies + %d missing; want %d runs", len(f.Latencies), f.Missing, n*ticks)
	}
	for _, l := range f.Latencies {
		if l < 0 || (maxLatency > 0 && l >= maxLatency) {
			t.Errorf("latency %v out of [0, %v)", l, maxLatency)
			break
		}
	}
}

// redisAddr returns the test Redis or skips the test when it is unreachable.
func redisAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("TOCK_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Skipf("Redis at %s unreachable: %v", addr, err)
	}
	_ = c.Close()
	return addr
}

// countKeys counts the keys starting with prefix in database db.
func countKeys(t *testing.T, addr string, db int, prefix string) int {
	t.Helper()
	c, err := redis.Dial("tcp", addr, redis.DialDatabase(db))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := redis.Strings(c.Do("KEYS", globEscaper.Replace(prefix)+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// checkGoroutines fails t if, once it ends, more goroutines run than when it
// began. Tests using it must not run in parallel.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines left running (%d before):\n%s", runtime.NumGoroutine(), before, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
