package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/client"
	"github.com/tock-sched/tock/jobs"
)

func newTriggerCmd(g *globals) *cobra.Command {
	var params []string
	var at string
	cmd := &cobra.Command{
		Use:   "trigger JOB",
		Short: "Run a job now or at a given time, optionally with parameters (the leader queues it when due)",
		Long: `Run a job now or at a given time, optionally with parameters.

--param NAME=VALUE sets one of the job's declared params (repeatable); the
others get their defaults. --at TIME makes the run due at TIME (RFC 3339,
or +DURATION such as +10m); it waits in the store as a scheduled run, so it
survives failover and can be canceled (tock cancel) until it starts.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.TriggerRequest{At: at}
			for _, kv := range params {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return exitError{2, fmt.Sprintf("tock: --param %q: want NAME=VALUE", kv)}
				}
				if req.Params == nil {
					req.Params = map[string]string{}
				}
				if _, dup := req.Params[k]; dup {
					return exitError{2, fmt.Sprintf("tock: --param %s given twice", k)}
				}
				req.Params[k] = v
			}
			return g.withBackend(cmd, args[0], func(ctx context.Context, b client.Backend) error {
				run, err := b.TriggerWith(ctx, args[0], req)
				if err != nil {
					return err
				}
				if at != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "triggered %s: run %d, due %s\n", args[0], run.ID, run.ScheduledAt.UTC().Format(time.RFC3339))
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "triggered %s: run %d\n", args[0], run.ID)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVar(&params, "param", nil, "NAME=VALUE: set a declared parameter (repeatable)")
	cmd.Flags().StringVar(&at, "at", "", "due time: RFC 3339 or +DURATION (+10m); default now")
	return cmd
}

func newPauseCmd(g *globals, pause bool) *cobra.Command {
	use, short, verb := "pause JOB", "Pause a job on every replica", "paused"
	if !pause {
		use, short, verb = "resume JOB", "Resume a paused job on every replica", "resumed"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, args[0], func(ctx context.Context, b client.Backend) error {
				j, err := b.SetPaused(ctx, args[0], pause)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", verb, args[0])
				if !pause && j.PausedInConfig {
					fmt.Fprintf(cmd.ErrOrStderr(), "note: %s stays paused: its config says paused: true\n", args[0])
				}
				return nil
			})
		},
	}
}

func newCancelCmd(g *globals) *cobra.Command {
	var backfill bool
	cmd := &cobra.Command{
		Use:   "cancel RUN_ID | cancel --backfill BACKFILL_ID",
		Short: "Cancel a queued run, or stop a running one (SIGTERM to its process group); or a backfill's waiting runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			if backfill {
				return g.withBackend(cmd, "", func(ctx context.Context, b client.Backend) error {
					c, err := b.CancelBackfill(ctx, id)
					if err == nil {
						fmt.Fprintf(cmd.OutOrStdout(), "backfill %d: %d waiting runs canceled (its queued and running runs finish)\n", c.ID, c.Canceled)
					}
					return err
				})
			}
			return g.withBackend(cmd, "", func(ctx context.Context, b client.Backend) error {
				run, err := b.Cancel(ctx, id)
				switch {
				case err != nil:
					return err
				case run.Status == jobs.StatusRunning:
					fmt.Fprintf(cmd.OutOrStdout(), "cancel requested for run %d (running on %s)\n", id, run.Node)
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "run %d %s\n", id, run.Status)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&backfill, "backfill", false, "the argument is a backfill id: cancel its runs still waiting to be queued")
	return cmd
}

// jobView is a job as `tock jobs` prints it.
type jobView struct {
	Name       string     `json:"name"`
	Schedule   string     `json:"schedule"`
	Timezone   string     `json:"timezone"`
	Executor   string     `json:"executor"`
	Paused     bool       `json:"paused"`
	NextFire   *time.Time `json:"next_fire"`
	LastRun    *int64     `json:"last_run_id"`
	LastStatus string     `json:"last_status"`
	LastAt     *time.Time `json:"last_scheduled_at"`
	Digest     string     `json:"digest"`
}

func newJobsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List the jobs of the config with their next fire, last run and pause state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return g.withBackend(cmd, "", func(ctx context.Context, b client.Backend) error {
				js, err := b.Jobs(ctx)
				if err != nil {
					return err
				}
				views := make([]jobView, len(js))
				for i, j := range js {
					views[i] = jobView{Name: j.Name, Schedule: j.Schedule, Timezone: j.Timezone, Executor: j.Executor,
						Paused: j.Paused, NextFire: j.NextFire, Digest: j.Digest}
					if r := j.LastRun; r != nil {
						id, at := r.ID, r.ScheduledAt
						views[i].LastRun, views[i].LastStatus, views[i].LastAt = &id, string(r.Status), &at
					}
				}
				if output == "json" {
					return printJSON(cmd.OutOrStdout(), views)
				}
				return printJobs(cmd.OutOrStdout(), views)
			})
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

func printJobs(w io.Writer, views []jobView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSCHEDULE\tTZ\tEXECUTOR\tPAUSED\tNEXT (UTC)\tLAST RUN\tLAST STATUS")
	for _, v := range views {
		last := "-"
		if v.LastRun != nil {
			last = fmt.Sprintf("%d @ %s", *v.LastRun, fmtTime(v.LastAt))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%s\t%s\n", v.Name, v.Schedule, v.Timezone, v.Executor, v.Paused,
			fmtTime(v.NextFire), last, dash(v.LastStatus))
	}
	return tw.Flush()
}
