package browsertest

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/tock-sched/tock/jobs/executor"
)

func TestMain(m *testing.M) {
	// The replica's worker re-runs this binary as the process-group shim of
	// every command and shell job.
	executor.RunShimIfRequested()
	// A -race binary sleeps a second on exit to catch late races; as the
	// shim it would make every job last that much longer.
	if _, set := os.LookupEnv("GORACE"); !set {
		_ = os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m)
}
