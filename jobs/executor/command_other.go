//go:build !unix

package executor

import (
	"context"
	"fmt"
	"runtime"

	"github.com/tock-sched/tock/jobs"
)

// execProcess refuses: process groups, tock-exec and the kill sequence are
// built on unix process semantics.
func execProcess(_ context.Context, _ *jobs.Job, _ []string, _ Options) Result {
	return Result{Status: jobs.StatusFailed, Error: fmt.Sprintf("jobs: command and shell jobs need a unix system, not %s", runtime.GOOS)}
}
