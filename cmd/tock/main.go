// Command tock is a distributed cron scheduler: one binary with the
// subcommands run, validate, migrate, jobs, runs, trigger, pause, resume,
// cancel and cluster. It parses flags and wires parts; behaviour lives in
// the packages.
package main

import (
	"errors"
	"fmt"
	"os"
	// Embedded zone data: every replica resolves time zones alike.
	_ "time/tzdata"

	"github.com/tock-sched/tock/jobs"
)

func main() {
	// A job's process-group shim is this same binary (no orphans, I8).
	jobs.RunShimIfRequested()
	cmd := newRootCmd()
	if err := cmd.Execute(); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			if ex.msg != "" {
				fmt.Fprintln(os.Stderr, ex.msg)
			}
			os.Exit(ex.code)
		}
		fmt.Fprintln(os.Stderr, "tock:", err)
		os.Exit(1)
	}
}

// exitError ends the command with a given code and message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
