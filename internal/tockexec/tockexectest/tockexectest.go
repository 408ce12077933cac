// Package tockexectest builds tock-exec for tests whose jobs run under it.
package tockexectest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// Package is the import path of tock-exec's command.
const Package = "github.com/tock-sched/tock/cmd/tock-exec"

// Build builds tock-exec as dir/tock-exec.
func Build(dir string) (string, error) {
	out := filepath.Join(dir, "tock-exec")
	cmd := exec.Command("go", "build", "-o", out, Package)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building tock-exec: %v\n%s", err, b)
	}
	return out, nil
}

// Install builds tock-exec into a new temporary directory and points
// TOCK_EXEC at it, for a TestMain to call before m.Run; cleanup removes
// the directory. It exits the test binary when the build fails.
func Install() (cleanup func()) {
	dir, err := os.MkdirTemp("", "tock-exec-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	path, err := Build(dir)
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := os.Setenv("TOCK_EXEC", path); err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	return func() { os.RemoveAll(dir) }
}

// supervisorGoroutine is the goroutine that owns a running tock-exec for
// the process's whole life (executor.DefaultSupervisor): not a leak.
const supervisorGoroutine = "github.com/tock-sched/tock/jobs/executor.startSupervisor.func1"

// VerifyTestMain is TestMain for packages whose tests run command or shell
// jobs: it installs tock-exec, runs the tests and checks for leaked
// goroutines (goleak), the shared supervisor's own excepted.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	cleanup := Install()
	opts = append(opts, goleak.IgnoreAnyFunction(supervisorGoroutine), goleak.Cleanup(func(int) { cleanup() }))
	goleak.VerifyTestMain(m, opts...)
}
