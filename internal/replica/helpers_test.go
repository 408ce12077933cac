package replica

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
)

// runReplica opens a replica named node of the config file at path, on a
// SQLite store beside it, and runs it until the test ends.
func runReplica(t *testing.T, path, node string) *Replica {
	t.Helper()
	r, err := Open(context.Background(), Options{ConfigPath: path, StoreURL: "sqlite:" + filepath.Join(filepath.Dir(path), node+".db"),
		NodeID: node, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
