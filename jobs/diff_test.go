package jobs

import (
	"fmt"
	"slices"
	"testing"
)

func sealedConfig(t *testing.T, jobs map[string]string) *Config {
	t.Helper()
	c := &Config{}
	for name, cmd := range jobs {
		c.Jobs = append(c.Jobs, &Job{Name: name, Schedule: "@every 1m", Command: []string{cmd}})
	}
	c.Seal()
	return c
}

func TestConfigDiff(t *testing.T) {
	old := sealedConfig(t, map[string]string{"a": "x", "b": "x", "c": "x", "d": "x"})
	cur := sealedConfig(t, map[string]string{"b": "x", "c": "changed", "e": "x", "f": "x"})
	d := cur.Diff(old)
	if d.Added != 2 || d.Removed != 2 || d.Changed != 1 {
		t.Fatalf("counts: %+v", d)
	}
	if !slices.Equal(d.AddedNames, []string{"e", "f"}) || !slices.Equal(d.RemovedNames, []string{"a", "d"}) ||
		!slices.Equal(d.ChangedNames, []string{"c"}) {
		t.Fatalf("names: %+v", d)
	}
	if d := cur.Diff(cur); !d.Empty() {
		t.Fatalf("a config against itself: %+v", d)
	}
	if d := cur.Diff(nil); d.Added != 4 || d.Removed != 0 || d.Changed != 0 {
		t.Fatalf("against nil: %+v", d)
	}
}

func TestConfigDiffCapsNames(t *testing.T) {
	many := map[string]string{}
	for i := range DiffNamesMax * 3 {
		many[fmt.Sprintf("job-%03d", i)] = "x"
	}
	d := sealedConfig(t, many).Diff(sealedConfig(t, nil))
	if d.Added != DiffNamesMax*3 || len(d.AddedNames) != DiffNamesMax || d.AddedNames[0] != "job-000" {
		t.Fatalf("%d added, %d names (first %q)", d.Added, len(d.AddedNames), d.AddedNames[0])
	}
}
