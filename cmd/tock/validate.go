package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/client"
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
				if j.Schedule == "" {
					// Only jobs with after: may have no schedule.
					fmt.Fprintf(out, "%s%s  %s  %s%s\n", j.Name, state, describeAfter(j), describeExecutor(j), describePlacement(j))
				} else {
					fmt.Fprintf(out, "%s%s  %q %s  %s%s\n", j.Name, state, j.Schedule, j.Location(), describeExecutor(j), describePlacement(j))
				}
				if j.Params != nil {
					fmt.Fprintf(out, "  params  %s\n", describeParams(j.Params))
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				for _, t := range cfg.NextTimes(j, now, n) {
					fmt.Fprintf(tw, "  next\t%s\t%s\n", t.In(j.Location()).Format("2006-01-02 15:04:05 MST"), t.UTC().Format(time.RFC3339))
				}
				tw.Flush()
			}
			// Configs without after: print nothing here, so their
			// output is what it always was.
			if edges := cfg.DepEdges(); len(edges) > 0 {
				fmt.Fprintln(out, "dependencies:")
				for _, e := range edges {
					fmt.Fprintf(out, "  %s\n", e)
				}
			}
			fmt.Fprintf(out, "%s: OK, %d job(s), config digest %s\n", g.config, len(cfg.Jobs), cfg.Digest)
			if placementNamed(cmd) && slices.ContainsFunc(cfg.Jobs, func(j *jobs.Job) bool { return j.RunOn != nil }) {
				return g.withBackend(cmd, "", func(ctx context.Context, b client.Backend) error {
					c, err := b.Cluster(ctx)
					if err != nil {
						return fmt.Errorf("reading the cluster's replicas to check run_on: %w", err)
					}
					warnUnplaced(out, cfg, c)
					return nil
				})
			}
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

// describePlacement is a job's run_on as validate prints it after the
// executor; "" for a job without one.
func describePlacement(j *jobs.Job) string {
	if j.RunOn == nil {
		return ""
	}
	var parts []string
	if l := j.RequiredLabels(); l != "" {
		parts = append(parts, "labels "+l)
	}
	if j.Broadcast() {
		parts = append(parts, "broadcast")
	}
	return "  run_on: " + strings.Join(parts, ", ")
}

// placementNamed reports whether validate was given --store or --server
// on its command line to check run_on against the registered replicas
// (not from the environment: validate of a file alone needs no store).
func placementNamed(cmd *cobra.Command) bool {
	f := cmd.Flags()
	return f.Changed("store") || f.Changed("server")
}

// warnUnplaced prints, for each job with run_on, how many live replicas
// of c match it, and a warning for those no live replica matches: their
// runs would fail after the dispatch timeout.
func warnUnplaced(w io.Writer, cfg *jobs.Config, c api.Cluster) {
	var live []api.ClusterNode
	for _, n := range c.Nodes {
		if n.Alive && n.Role != "scheduler" {
			live = append(live, n)
		}
	}
	for _, j := range cfg.Jobs {
		if j.RunOn == nil {
			continue
		}
		var match []string
		for _, n := range live {
			if j.RunsOn(n.Labels) {
				match = append(match, n.ID)
			}
		}
		if len(match) == 0 {
			var seen []string
			for _, n := range live {
				seen = append(seen, n.ID+" ["+dash(n.Labels.String())+"]")
			}
			fmt.Fprintf(w, "warning: job %q: no live replica matches run_on labels %s (live replicas: %s); its runs would fail after the dispatch timeout\n",
				j.Name, dash(j.RequiredLabels()), dash(strings.Join(seen, ", ")))
			continue
		}
		fmt.Fprintf(w, "%s: run_on matches %d live replica(s): %s\n", j.Name, len(match), strings.Join(match, ", "))
	}
}

// describeAfter says when a job without a schedule runs.
func describeAfter(j *jobs.Job) string {
	if j.Deps == nil {
		return "(no schedule)"
	}
	names := make([]string, len(j.Deps.After))
	for i, u := range j.Deps.After {
		names[i] = u.Job
	}
	if j.Deps.FanIn() {
		return "after " + strings.Join(names, " + ") + " (same tick)"
	}
	return "after " + names[0]
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
