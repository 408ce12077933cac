// Command tock is a distributed cron scheduler: one binary with the
// subcommands run, validate, migrate, jobs, runs, trigger, pause, resume,
// cancel and cluster. It parses flags and wires parts; behaviour lives in
// the packages.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	// Embedded zone data: every replica resolves time zones alike.
	_ "time/tzdata"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(execute(newRootCmd(), os.Args[1:], os.Stdout, os.Stderr))
}

// execute runs the command line args and returns the exit code: 0, 1 when
// the command failed, 2 for a usage error.
func execute(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ex exitError
	if errors.As(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintln(stderr, ex.msg)
		}
		return ex.code
	}
	fmt.Fprintln(stderr, "tock:", err)
	return 1
}

// exitError ends the command with a given code and message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
