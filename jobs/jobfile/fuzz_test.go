package jobfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics and always answers with either a
// usable Config or a *ConfigError whose every entry is located and explained,
// and that streaming the jobs answers exactly as decoding the whole document
// does. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		wd := time.AfterFunc(2*time.Second, func() {
			os.WriteFile("/tmp/hang_input", data, 0o644)
			panic("HANG")
		})
		defer wd.Stop()
		cfg, err := Parse("f.yaml", data)
		sameAsWhole(t, data)
		if err != nil {
			if cfg != nil {
				t.Fatal("both a Config and an error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Errors) == 0 {
				t.Fatalf("error %T %v, want a non-empty *ConfigError", err, err)
			}
			lines := lineOf(data, len(data))
			for _, e := range ce.Errors {
				if e.File != "f.yaml" || e.Msg == "" {
					t.Fatalf("bad FieldError %+v", e)
				}
				if e.Line == 0 && len(ce.Errors) == 1 && e.Msg == "empty config file: no jobs defined" {
					continue
				}
				if e.Line < 1 || e.Line > lines {
					t.Fatalf("FieldError line %d outside 1..%d: %v", e.Line, lines, e)
				}
			}
			return
		}
		if cfg == nil || len(cfg.Jobs) == 0 || len(cfg.Digest) != digestHexLen {
			t.Fatalf("Config without jobs or digest: %+v", cfg)
		}
		from := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
		for _, j := range cfg.Jobs {
			if !jobNameRE.MatchString(j.Name) || cfg.Job(j.Name) != j {
				t.Fatalf("job name %q", j.Name)
			}
			if j.Schedule == "" || j.Location().String() != j.Timezone || j.Line < 1 || len(j.Digest) != digestHexLen {
				t.Fatalf("job %q incomplete: %+v", j.Name, j)
			}
			if j.ExecutorKind() == "" {
				t.Fatalf("job %q has no executor", j.Name)
			}
			if n := j.Next(from); !n.IsZero() && !n.After(from) {
				t.Fatalf("job %q: Next(%v) = %v", j.Name, from, n)
			}
		}
		again, err := Parse("f.yaml", data)
		if err != nil || again.Digest != cfg.Digest {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}

// TestFuzzSeeds keeps the seed corpus honest: valid_* seeds parse, the
// others do not.
func TestFuzzSeeds(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 8 {
		t.Fatalf("only %d seeds", len(entries))
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(strings.TrimSpace(string(raw)), "\n", 2)
		if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
			!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			t.Fatalf("%s: not a go test fuzz v1 []byte file", e.Name())
		}
		data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		_, err = Parse(e.Name(), []byte(data))
		if valid := strings.HasPrefix(e.Name(), "valid_"); valid != (err == nil) {
			t.Errorf("%s: Parse error %v", e.Name(), err)
		}
	}
}
