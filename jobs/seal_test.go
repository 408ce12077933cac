package jobs

import (
	"testing"
	"time"
)

func TestConfigJobWithoutIndex(t *testing.T) {
	t.Parallel()
	a, b := &Job{Name: "a"}, &Job{Name: "b"}
	cfg := &Config{Jobs: []*Job{a, b}}
	if cfg.Job("b") != b || cfg.Job("c") != nil {
		t.Error("Job lookup on a hand-built Config failed")
	}
}

func TestSeal(t *testing.T) {
	t.Parallel()
	a, b := &Job{Name: "a", Shell: "x"}, &Job{Name: "b", Shell: "y"}
	cfg := &Config{Jobs: []*Job{a, b}}
	cfg.Seal()
	if cfg.Job("a") != a || cfg.Job("b") != b || cfg.byName == nil {
		t.Error("Seal did not index the jobs by name")
	}
	if a.Digest != jobDigest(a) || b.Digest != jobDigest(b) || a.Digest == b.Digest {
		t.Errorf("job digests %q, %q", a.Digest, b.Digest)
	}
	if cfg.Digest != configDigest(cfg) || len(cfg.Digest) != 2*digestLen {
		t.Errorf("config digest %q", cfg.Digest)
	}
}

func TestSetSchedule(t *testing.T) {
	t.Parallel()
	berlin := mustLoad(t, "Europe/Berlin")
	j := &Job{Name: "a"}
	if err := j.SetSchedule("  30   2 * * *", berlin); err != nil {
		t.Fatal(err)
	}
	if j.Schedule != "30 2 * * *" || j.Location() != berlin {
		t.Errorf("Schedule %q, Location %v", j.Schedule, j.Location())
	}
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if got, want := j.Next(from), time.Date(2026, 6, 1, 0, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next = %v, want %v", got, want)
	}
	if err := j.SetSchedule("* * * *", time.UTC); err == nil {
		t.Fatal("a four-field spec was accepted")
	}
	if j.Schedule != "30 2 * * *" || j.Location() != berlin {
		t.Error("a failed SetSchedule changed the job")
	}
}

func TestScheduleCache(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	var c ScheduleCache
	var a, b, other, bad Job
	for _, x := range []struct {
		j    *Job
		spec string
		loc  *time.Location
	}{{&a, "30  2 * * *", berlin}, {&b, "30  2 * * *", berlin}, {&other, "30  2 * * *", time.UTC}} {
		if err := c.SetSchedule(x.j, x.spec, x.loc); err != nil {
			t.Fatal(err)
		}
	}
	if a.when != b.when || a.Schedule != "30 2 * * *" || b.Schedule != a.Schedule || b.Location() != berlin {
		t.Errorf("same spec and zone not shared: %+v %+v", a, b)
	}
	if other.when == a.when || other.Location() != time.UTC {
		t.Error("another zone shares the schedule")
	}
	from := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	if got, want := a.Next(from), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("shared Next = %v, want %v (the DST gap's end)", got, want)
	}
	if err := c.SetSchedule(&bad, "* * * *", time.UTC); err == nil || bad.when != nil {
		t.Errorf("bad spec: %v, %+v", err, bad)
	}
}

func TestSealIndexFindsEveryJob(t *testing.T) {
	t.Parallel()
	names := []string{"m", "b", "z.1", "a", "z", "b-2", "0"}
	cfg := &Config{}
	for _, n := range names {
		cfg.Jobs = append(cfg.Jobs, &Job{Name: n, Shell: n})
	}
	cfg.Seal()
	for i, n := range names {
		if cfg.Job(n) != cfg.Jobs[i] {
			t.Errorf("Job(%q) = %v", n, cfg.Job(n))
		}
	}
	for _, n := range []string{"", "c", "zz", "b-"} {
		if cfg.Job(n) != nil {
			t.Errorf("Job(%q) found %v", n, cfg.Job(n))
		}
	}
}
