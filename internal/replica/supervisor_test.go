package replica

import (
	"strings"
	"testing"
)

// A replica that would run command jobs refuses to start without tock-exec,
// naming the job and where it looked.
func TestOpenNeedsSupervisorForCommandJobs(t *testing.T) {
	path := writeConfig(t, "jobs:\n  - name: nightly\n    schedule: \"0 0 * * *\"\n    command: [\"/bin/true\"]\n")
	t.Setenv("TOCK_EXEC", "")
	t.Setenv("PATH", t.TempDir())
	_, err := openReplica(path, "a", "a.db")
	if err == nil || !strings.Contains(err.Error(), `job "nightly" is a command or shell job`) || !strings.Contains(err.Error(), "tock-exec") {
		t.Fatalf("Open without tock-exec: %v", err)
	}
}
