package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
)

func newValidateCmd(g *globals) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the config file and show each job's next fire times",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := jobfile.Load(g.config)
			if err != nil {
				var ce *jobfile.ConfigError
				if errors.As(err, &ce) {
					return exitError{1, fmt.Sprintf("%s\n%s: %d error(s)", ce.Error(), g.config, len(ce.Errors))}
				}
				return exitError{1, "tock: " + err.Error()}
			}
			out := cmd.OutOrStdout()
			now := time.Now()
			for _, j := range cfg.Jobs {
				state := ""
				if j.Paused {
					state = " (paused)"
				}
				fmt.Fprintf(out, "%s%s  %q %s  %s\n", j.Name, state, j.Schedule, j.Location(), describeExecutor(j))
				if j.Params != nil {
					fmt.Fprintf(out, "  params  %s\n", describeParams(j.Params))
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				for _, t := range cfg.NextTimes(j, now, n) {
					fmt.Fprintf(tw, "  next\t%s\t%s\n", t.In(j.Location()).Format("2006-01-02 15:04:05 MST"), t.UTC().Format(time.RFC3339))
				}
				tw.Flush()
			}
			fmt.Fprintf(out, "%s: OK, %d job(s), config digest %s\n", g.config, len(cfg.Jobs), cfg.Digest)
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "next", "n", 5, "fire times to show per job")
	return cmd
}

func describeExecutor(j *jobs.Job) string {
	switch {
	case len(j.Command) > 0:
		return "command: " + strings.Join(j.Command, " ")
	case j.Shell != "":
		return "shell: " + j.Shell
	case j.HTTP != nil:
		return "http: " + j.HTTP.Method + " " + j.HTTP.URL
	}
	return ""
}

// describeParams shows a job's parameters as `tock validate` prints them:
// name=default (as the job gets it: TOCK_PARAM_NAME), required ones
// marked, patterns shown.
func describeParams(ps *jobs.ParamSpec) string {
	parts := make([]string, len(ps.List))
	for i, p := range ps.List {
		s := jobs.EnvName(p.Name)
		if p.Default != nil {
			s += "=" + strconv.Quote(*p.Default)
		} else {
			s += " (required)"
		}
		if p.Pattern != "" {
			s += " ~ /" + p.Pattern + "/"
		}
		parts[i] = s
	}
	return strings.Join(parts, ", ")
}
