package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/tock-sched/tock/internal/e2e"
)

// FaultOptions configure a run of the fault kit (RunFaults).
type FaultOptions struct {
	// Scenarios are the names of e2e.FaultScenarios to run, in order;
	// "all" (or none) runs every one.
	Scenarios []string
	// Tock is a tock binary built with the tockfault tag; empty builds
	// one.
	Tock string
	// Dir holds the logs and the private servers' data; empty uses a
	// temporary directory, removed when every scenario passed.
	Dir string
	// Before and After are the steady times around each fault
	// (e2e.FaultEnv); zero keeps e2e's defaults.
	Before, After time.Duration
	// Progress receives progress lines and each scenario's full report.
	// Default discards.
	Progress io.Writer
}

// ResolveScenarios returns the scenarios named (all for none or "all").
func ResolveScenarios(names []string) ([]e2e.FaultScenario, error) {
	if len(names) == 0 || len(names) == 1 && names[0] == "all" {
		return e2e.FaultScenarios(), nil
	}
	var out []e2e.FaultScenario
	for _, n := range names {
		s, ok := e2e.FaultScenarioNamed(n)
		if !ok {
			var known []string
			for _, s := range e2e.FaultScenarios() {
				known = append(known, s.Name)
			}
			return nil, fmt.Errorf("unknown scenario %q (known: all, %s)", n, strings.Join(known, ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_]`)

// RunFaults starts a private redis-server and MariaDB, then runs each
// scenario once, on a database and Redis prefix of its own, and returns
// the results in order. It returns an error only when a scenario could not
// be carried out; the verdicts are the results' Pass.
func RunFaults(ctx context.Context, o FaultOptions) (results []*e2e.FaultResult, err error) {
	scenarios, err := ResolveScenarios(o.Scenarios)
	if err != nil {
		return nil, err
	}
	out := o.Progress
	if out == nil {
		out = io.Discard
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(out, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	tempDir := o.Dir == ""
	if tempDir {
		if o.Dir, err = os.MkdirTemp("", "tock-faults-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	var redis *Redis
	var db *MariaDB
	defer func() {
		var errs []error
		if redis != nil {
			errs = append(errs, redis.Stop(syscall.SIGTERM))
		}
		if db != nil {
			errs = append(errs, db.Stop(syscall.SIGTERM))
		}
		err = errors.Join(append([]error{err}, errs...)...)
		if tempDir && err == nil && allPass(results) {
			os.RemoveAll(o.Dir)
		}
	}()
	bin := o.Tock
	if bin == "" {
		logf("building tock with -tags %s", e2e.FaultTag)
		if bin, err = e2e.BuildTockWith(ctx, o.Dir, e2e.BuildOptions{Tags: []string{e2e.FaultTag}}); err != nil {
			return nil, err
		}
	}
	logf("starting a private redis-server and MariaDB in %s", o.Dir)
	if redis, err = StartRedis(ctx, o.Dir); err != nil {
		return nil, err
	}
	if db, err = StartMariaDB(ctx, o.Dir); err != nil {
		return nil, err
	}
	for _, sc := range scenarios {
		name := unsafeName.ReplaceAllString(strings.ReplaceAll(sc.Name, "+", "p"), "_")
		dir := filepath.Join(o.Dir, sc.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return results, err
		}
		if err := db.CreateDatabase(ctx, name); err != nil {
			return results, err
		}
		logf("scenario %s", sc.Name)
		res, err := e2e.RunFault(ctx, sc, e2e.FaultEnv{
			Binary: bin, Dir: dir, StoreURL: db.URL(name), RedisURL: redis.URL(), Cluster: name,
			Before: o.Before, After: o.After, Logf: logf,
		})
		if err != nil {
			return results, fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		res.Print(out)
		fmt.Fprintln(out)
		results = append(results, res)
	}
	return results, nil
}

func allPass(rs []*e2e.FaultResult) bool {
	for _, r := range rs {
		if !r.Pass() {
			return false
		}
	}
	return true
}

// PrintFaultTable writes the results as a markdown table, then each
// scenario's verdict with the requirements it missed.
func PrintFaultTable(w io.Writer, rs []*e2e.FaultResult) {
	fmt.Fprintln(w, e2e.FaultTableHeader())
	for _, r := range rs {
		fmt.Fprintln(w, r.TableRow())
	}
	fmt.Fprintln(w)
	for _, r := range rs {
		load := fmt.Sprintf("(load %.0f/%.0f/%.0f)", r.Load[0], r.Load[1], r.Load[2])
		if r.Pass() {
			fmt.Fprintf(w, "PASS %s %s\n", r.Scenario.Name, load)
			continue
		}
		fmt.Fprintf(w, "FAIL %s %s: %s\n", r.Scenario.Name, load, strings.Join(r.Failures, "; "))
	}
}
