package executor_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/tockexec/tockexectest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

// fakeTockEnv makes the test binary act as a tock that runs one job and
// waits to be killed (TestExecuteNoOrphansAfterKill9). Its value is the file
// the job writes its pids to.
const fakeTockEnv = "TOCK_TEST_FAKE_TOCK"

func TestMain(m *testing.M) {
	if pidFile := os.Getenv(fakeTockEnv); pidFile != "" {
		// TOCK_EXEC is inherited from the test that started this.
		os.Exit(runFakeTock(pidFile))
	}
	tockexectest.VerifyTestMain(m)
}

// runFakeTock runs a job that starts a background sleep and writes
// "<shell pid> <sleep pid>" to pidFile, the way tock's worker would run it.
// The test SIGKILLs this process while the job runs.
func runFakeTock(pidFile string) int {
	j := &jobs.Job{
		Name:  "orphan-check",
		Shell: `sleep 300 & echo $$ $! > "$PID_FILE.tmp" && mv "$PID_FILE.tmp" "$PID_FILE"; wait`,
		Env:   map[string]string{"PID_FILE": pidFile},
		// A safety net should the test fail to kill us.
		Settings: &jobs.Settings{Timeout: time.Minute},
	}
	res := executor.Execute(context.Background(), j, executor.Options{})
	fmt.Fprintf(os.Stderr, "fake tock: job ended: %+v\n", res)
	return 1
}
