package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// checkJob fails if the config file exists and lacks the job; without a
// config file the leader's config decides.
func (g *globals) checkJob(name string) error {
	if _, err := os.Stat(g.config); err != nil {
		return nil
	}
	cfg, err := jobs.LoadFile(g.config)
	if err != nil {
		return nil
	}
	if cfg.Job(name) == nil {
		return exitError{1, fmt.Sprintf("tock: job %q is not defined in %s", name, g.config)}
	}
	return nil
}

func newTriggerCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "trigger JOB",
		Short: "Run a job now (the leader queues it within a second)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.checkJob(args[0]); err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := g.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			run, err := st.Trigger(ctx, args[0], time.Now().UTC())
			if err != nil {
				return fmt.Errorf("triggering %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "triggered %s: run %d\n", args[0], run.ID)
			return nil
		},
	}
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
			if err := g.checkJob(args[0]); err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := g.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.SetPaused(ctx, args[0], pause); err != nil {
				return fmt.Errorf("%s %s: %w", verb, args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", verb, args[0])
			return nil
		},
	}
}

func newCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel RUN_ID",
		Short: "Cancel a queued run, or stop a running one (SIGTERM to its process group)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return exitError{2, fmt.Sprintf("tock: run id %q: want a number", args[0])}
			}
			ctx := cmd.Context()
			st, err := g.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			run, err := st.RequestCancel(ctx, id, time.Now().UTC())
			switch {
			case errors.Is(err, storage.ErrNotFound):
				return exitError{1, fmt.Sprintf("tock: run %d not found", id)}
			case errors.Is(err, storage.ErrConflict):
				return exitError{1, fmt.Sprintf("tock: run %d already finished (%s)", id, run.Status)}
			case err != nil:
				return fmt.Errorf("canceling run %d: %w", id, err)
			}
			if run.Status == jobs.StatusRunning {
				fmt.Fprintf(cmd.OutOrStdout(), "cancel requested for run %d (running on %s)\n", id, run.Node)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "run %d %s\n", id, run.Status)
			}
			return nil
		},
	}
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
			cfg, err := jobs.LoadFile(g.config)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := g.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			states, err := st.JobStates(ctx)
			if err != nil {
				return fmt.Errorf("reading job states: %w", err)
			}
			last, err := st.LastRuns(ctx)
			if err != nil {
				return fmt.Errorf("reading last runs: %w", err)
			}
			now := time.Now()
			views := make([]jobView, 0, len(cfg.Jobs))
			for _, j := range cfg.Jobs {
				v := jobView{Name: j.Name, Schedule: j.Schedule, Timezone: j.Location().String(), Executor: j.ExecutorKind(),
					Paused: j.Paused || states[j.Name].Paused, Digest: j.Digest}
				if n := j.Next(now); !n.IsZero() {
					v.NextFire = &n
				}
				if r, ok := last[j.Name]; ok {
					id, at := r.ID, r.ScheduledAt
					v.LastRun, v.LastStatus, v.LastAt = &id, string(r.Status), &at
				}
				views = append(views, v)
			}
			sort.Slice(views, func(a, b int) bool { return views[a].Name < views[b].Name })
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(views)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
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
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the store's schema (tock run does this too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "schema up to date")
			return nil
		},
	}
}
