package replica

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// writeFile writes s to path or fails the test.
func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeConfig writes a config file holding s in a new temporary directory
// and returns its path.
func writeConfig(t *testing.T, s string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tock.yaml")
	writeFile(t, path, s)
	return path
}

// openReplica opens a replica named node of the config file at path, on
// the SQLite store db beside it, logging nowhere.
func openReplica(path, node, db string) (*Replica, error) {
	return Open(context.Background(), Options{ConfigPath: path, StoreURL: "sqlite:" + filepath.Join(filepath.Dir(path), db),
		NodeID: node, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// runReplica opens a replica named node of the config file at path, on a
// SQLite store beside it, and runs it until the test ends.
func runReplica(t *testing.T, path, node string) *Replica {
	t.Helper()
	r, err := openReplica(path, node, node+".db")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}
