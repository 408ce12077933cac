package replica

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A replica that would run command jobs refuses to start without tock-exec,
// naming the job and where it looked.
func TestOpenNeedsSupervisorForCommandJobs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tock.yaml")
	cfg := "jobs:\n  - name: nightly\n    schedule: \"0 0 * * *\"\n    command: [\"/bin/true\"]\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOCK_EXEC", "")
	t.Setenv("PATH", t.TempDir())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err := Open(context.Background(), Options{ConfigPath: path, StoreURL: "sqlite:" + filepath.Join(dir, "a.db"), NodeID: "a", Logger: log})
	if err == nil || !strings.Contains(err.Error(), `job "nightly" is a command or shell job`) || !strings.Contains(err.Error(), "tock-exec") {
		t.Fatalf("Open without tock-exec: %v", err)
	}
}
