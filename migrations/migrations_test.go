package migrations_test

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tock-sched/tock/migrations"
)

var numbered = regexp.MustCompile(`^\d{5}_[a-z0-9_]+\.sql$`)

// TestDialectsInStep checks that both dialects have the same numbered
// migrations, each with an Up and a Down section.
func TestDialectsInStep(t *testing.T) {
	names := map[string][]string{}
	for dialect, fsys := range map[string]fs.FS{"sqlite": migrations.SQLite, "mysql": migrations.MySQL} {
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatalf("%s: %v", dialect, err)
		}
		for _, e := range entries {
			if !numbered.MatchString(e.Name()) {
				t.Errorf("%s/%s: want NNNNN_name.sql", dialect, e.Name())
			}
			b, err := fs.ReadFile(fsys, e.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "-- +goose Up") || !strings.Contains(string(b), "-- +goose Down") {
				t.Errorf("%s/%s lacks a goose Up or Down section", dialect, e.Name())
			}
			names[dialect] = append(names[dialect], e.Name())
		}
	}
	if len(names["sqlite"]) == 0 || !slices.Equal(names["sqlite"], names["mysql"]) {
		t.Fatalf("migrations differ: sqlite %v, mysql %v", names["sqlite"], names["mysql"])
	}
}
