// Command tock-chaos runs a tock cluster under randomised faults for a given
// duration and audits its history (see internal/chaos). It starts its own
// redis-server and MariaDB on free ports. It exits 1 when the audit finds a
// duplicate, a silently missing tick, an off-schedule row or a stuck run,
// and 2 when the run itself could not be carried out.
//
//	go run ./internal/chaos/cmd/tock-chaos -duration 10m -seed 1
//
// With -scenario it runs the fault kit instead: named, deterministic faults
// (a frozen replica, a replica cut off from Redis or MariaDB, a skewed
// clock; see e2e.FaultScenarios), each once, each audited against the job
// bodies' own record of their executions. It prints a markdown table and a
// verdict per scenario, and exits 1 if any scenario failed.
//
//	go run ./internal/chaos/cmd/tock-chaos -scenario all
//	go run ./internal/chaos/cmd/tock-chaos -scenario freeze-worker,skew+3s-leader
//	go run ./internal/chaos/cmd/tock-chaos -scenario list
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tock-sched/tock/internal/chaos"
)

func main() {
	var o chaos.Options
	flag.DurationVar(&o.Duration, "duration", chaos.DefaultDuration, "how long to inject faults")
	flag.Uint64Var(&o.Seed, "seed", 0, "seed of the fault sequence (0: from the clock; printed)")
	flag.IntVar(&o.Replicas, "replicas", chaos.DefaultReplicas, "tock replicas")
	flag.IntVar(&o.Jobs, "jobs", chaos.DefaultJobs, "jobs, each firing every second")
	flag.StringVar(&o.Tock, "tock", "", "tock binary (default: build ./cmd/tock)")
	flag.StringVar(&o.Dir, "dir", "", "directory for logs and the private servers' data (default: a temporary one, removed after a clean run)")
	flag.BoolVar(&o.NoMariaDBRestarts, "no-mariadb-restarts", false, "never restart the private MariaDB")
	quiet := flag.Bool("q", false, "print only the result, not each fault")
	scenario := flag.String("scenario", "", "run the fault kit: comma-separated scenario names, all, or list")
	before := flag.Duration("before", 0, "fault kit: steady time before each fault (default 8s)")
	after := flag.Duration("after", 0, "fault kit: time after each fault ends (default 12s)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "tock-chaos: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	if !*quiet {
		o.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if *scenario != "" {
		code := runFaults(ctx, *scenario, chaos.FaultOptions{Tock: o.Tock, Dir: o.Dir, Before: *before, After: *after, Progress: o.Progress})
		stop()
		os.Exit(code)
	}
	res, err := chaos.Run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tock-chaos:", err)
		os.Exit(2)
	}
	res.Print(os.Stdout)
	if !res.OK() {
		fmt.Println("FAIL: the audit found duplicates, silently missing ticks, off-schedule rows or stuck runs")
		os.Exit(1)
	}
	fmt.Println("PASS")
}

// runFaults runs the fault kit and returns the exit code.
func runFaults(ctx context.Context, names string, fo chaos.FaultOptions) int {
	if names == "list" {
		scs, _ := chaos.ResolveScenarios(nil)
		for _, s := range scs {
			fmt.Println(s.Name)
		}
		return 0
	}
	fo.Scenarios = strings.Split(names, ",")
	if _, err := chaos.ResolveScenarios(fo.Scenarios); err != nil {
		fmt.Fprintln(os.Stderr, "tock-chaos:", err)
		return 2
	}
	res, err := chaos.RunFaults(ctx, fo)
	chaos.PrintFaultTable(os.Stdout, res)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tock-chaos:", err)
		return 2
	}
	for _, r := range res {
		if !r.Pass() {
			return 1
		}
	}
	return 0
}
