//go:build !unix

package executor

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/tock-sched/tock/jobs"
)

// execProcess refuses: process groups, the shim and the kill sequence are
// built on unix process semantics.
func execProcess(_ context.Context, _ *jobs.Job, _ []string, _ Options) Result {
	return Result{Status: jobs.StatusFailed, Error: fmt.Sprintf("jobs: command and shell jobs need a unix system, not %s", runtime.GOOS)}
}

func runShim([]string) int {
	fmt.Fprintf(os.Stderr, "tock: the exec shim needs a unix system, not %s\n", runtime.GOOS)
	return 127
}
