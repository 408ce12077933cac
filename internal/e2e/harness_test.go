package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// copyBinary copies /bin/sleep to dir, standing in for a tock binary.
func copyBinary(t *testing.T, dir string) string {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "fake-tock")
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestLeftoversAndProcessAlive(t *testing.T) {
	bin := copyBinary(t, t.TempDir())
	cmd := exec.Command(bin, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})
	go func() { waited <- cmd.Wait() }()
	pid := cmd.Process.Pid
	if !ProcessAlive(pid) {
		t.Fatalf("pid %d not alive", pid)
	}
	if got := Leftovers(bin); !slices.Equal(got, []int{pid}) {
		t.Fatalf("Leftovers = %v, want [%d]", got, pid)
	}
	if err := ReapLeftovers(bin, 0); err == nil {
		t.Fatal("ReapLeftovers found nothing to report")
	}
	select {
	case <-waited:
		waited <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("the leftover was not killed")
	}
	if ProcessAlive(pid) {
		t.Errorf("pid %d alive after it was reaped", pid)
	}
	if got := Leftovers(bin); len(got) != 0 {
		t.Errorf("Leftovers after the kill = %v", got)
	}
	if err := ReapLeftovers(bin, time.Second); err != nil {
		t.Errorf("ReapLeftovers with nothing left: %v", err)
	}
}

func TestTailFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := tailFile(p, 2)
	if err != nil || !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("tailFile = %q, %v; want [c d]", got, err)
	}
}
