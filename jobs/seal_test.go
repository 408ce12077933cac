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
