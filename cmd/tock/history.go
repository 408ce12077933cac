package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/node"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// openStore opens and migrates the store named by --store for a CLI command.
func (g *globals) openStore(ctx context.Context) (storage.Store, error) {
	log, err := g.logger(io.Discard)
	if err != nil {
		return nil, err
	}
	st, err := node.OpenStore(ctx, g.store, log)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrating store: %w", err)
	}
	return st, nil
}

// runView is a run as the CLI prints it: the run plus its last attempt's
// output.
type runView struct {
	jobs.Run
	Output        string `json:"output"`
	OutputDropped int64  `json:"output_dropped"`
}

func newRunsCmd(g *globals) *cobra.Command {
	var (
		f                      storage.RunFilter
		status, trigger, since string
		until, before, output  string
		withOutput             bool
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List run history, newest first",
		Example: `  tock runs --job backup --status failed --since 24h
  tock runs -o json --limit 500
  tock runs --before 2026-11-29T01:00:00Z,4711   # next page`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if status != "" {
				if f.Status, err = jobs.ParseStatus(status); err != nil {
					return exitError{2, "tock: --status: " + err.Error()}
				}
			}
			if trigger != "" {
				if f.Trigger, err = jobs.ParseTrigger(trigger); err != nil {
					return exitError{2, "tock: --trigger: " + err.Error()}
				}
			}
			now := time.Now().UTC()
			if f.Since, err = parseWhen(since, now); err != nil {
				return exitError{2, "tock: --since: " + err.Error()}
			}
			if f.Until, err = parseWhen(until, now); err != nil {
				return exitError{2, "tock: --until: " + err.Error()}
			}
			if before != "" {
				c, err := parseCursor(before)
				if err != nil {
					return exitError{2, "tock: --before: " + err.Error()}
				}
				f.Before = &c
			}
			if f.Limit < 1 || f.Limit > 1000 {
				return exitError{2, "tock: --limit: want 1 to 1000"}
			}
			if output != "table" && output != "json" {
				return exitError{2, "tock: -o: want table or json"}
			}
			ctx := cmd.Context()
			st, err := g.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			runs, err := st.ListRuns(ctx, f)
			if err != nil {
				return fmt.Errorf("listing runs: %w", err)
			}
			views := make([]runView, len(runs))
			for i, r := range runs {
				views[i].Run = r
				if withOutput && r.Attempt > 0 {
					_, atts, err := st.GetRun(ctx, r.ID)
					if err != nil {
						return fmt.Errorf("reading run %d: %w", r.ID, err)
					}
					if len(atts) > 0 {
						views[i].Output, views[i].OutputDropped = atts[len(atts)-1].Output, atts[len(atts)-1].OutputDropped
					}
				}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(views)
			}
			printRuns(out, views)
			if len(runs) == f.Limit {
				last := runs[len(runs)-1]
				fmt.Fprintf(cmd.ErrOrStderr(), "more: --before %s,%d\n", last.ScheduledAt.UTC().Format(time.RFC3339Nano), last.ID)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Job, "job", "", "only this job")
	fl.StringVar(&status, "status", "", "only this status: "+joinStatuses())
	fl.StringVar(&trigger, "trigger", "", "only this trigger: schedule, catchup, manual, retry")
	fl.StringVar(&since, "since", "", "scheduled at or after: a duration ago (24h, 7d) or RFC 3339 time")
	fl.StringVar(&until, "until", "", "scheduled before: a duration ago or RFC 3339 time")
	fl.StringVar(&before, "before", "", "keyset cursor SCHEDULED_AT,ID printed by the previous page")
	fl.IntVar(&f.Limit, "limit", 50, "rows, at most 1000")
	fl.StringVarP(&output, "output", "o", "table", "table or json")
	fl.BoolVar(&withOutput, "with-output", true, "include each run's last captured output in -o json")
	cmd.AddCommand(newRunsShowCmd(g))
	return cmd
}

func joinStatuses() string {
	s := make([]string, len(jobs.AllStatuses))
	for i, st := range jobs.AllStatuses {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// parseWhen reads "24h", "7d", "1d12h" as that long before now, or an RFC
// 3339 time; empty is the zero time.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := jobs.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}

func parseCursor(s string) (storage.Cursor, error) {
	ts, id, ok := strings.Cut(s, ",")
	if !ok {
		return storage.Cursor{}, errors.New("want SCHEDULED_AT,ID as printed after a page")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return storage.Cursor{}, fmt.Errorf("time: %w", err)
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return storage.Cursor{}, fmt.Errorf("id: %w", err)
	}
	return storage.Cursor{ScheduledAt: t.UTC(), ID: n}, nil
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000")
}

func fmtCode(c *int) string {
	if c == nil {
		return "-"
	}
	return strconv.Itoa(*c)
}

func printRuns(w io.Writer, runs []runView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tJOB\tSCHEDULED (UTC)\tTRIGGER\tSTATUS\tATTEMPT\tNODE\tSTARTED\tFINISHED\tEXIT\tERROR")
	for _, r := range runs {
		sched := r.ScheduledAt
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Job, fmtTime(&sched), r.Trigger, r.Status,
			r.Attempt, r.MaxAttempts, dash(r.Node), fmtTime(r.StartedAt), fmtTime(r.FinishedAt), fmtCode(r.ExitCode), oneLine(r.Error, 60))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func newRunsShowCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one run with its attempts, exit codes and output",
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
			run, atts, err := st.GetRun(ctx, id)
			if errors.Is(err, storage.ErrNotFound) {
				return exitError{1, fmt.Sprintf("tock: run %d not found", id)}
			}
			if err != nil {
				return fmt.Errorf("reading run %d: %w", id, err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					jobs.Run
					Attempts []jobs.Attempt `json:"attempts"`
				}{run, atts})
			}
			printRun(out, run, atts)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func printRun(w io.Writer, r jobs.Run, atts []jobs.Attempt) {
	sched := r.ScheduledAt
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%d\n", r.ID)
	fmt.Fprintf(tw, "job\t%s\n", r.Job)
	fmt.Fprintf(tw, "digest\t%s\n", dash(r.Digest))
	fmt.Fprintf(tw, "scheduled\t%s\n", fmtTime(&sched))
	fmt.Fprintf(tw, "trigger\t%s\n", r.Trigger)
	fmt.Fprintf(tw, "status\t%s\n", r.Status)
	fmt.Fprintf(tw, "attempts\t%d of %d\n", r.Attempt, r.MaxAttempts)
	fmt.Fprintf(tw, "node\t%s\n", dash(r.Node))
	fmt.Fprintf(tw, "started\t%s\n", fmtTime(r.StartedAt))
	fmt.Fprintf(tw, "finished\t%s\n", fmtTime(r.FinishedAt))
	fmt.Fprintf(tw, "exit code\t%s\n", fmtCode(r.ExitCode))
	if r.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", r.Error)
	}
	if r.CancelRequested {
		fmt.Fprintf(tw, "cancel\trequested\n")
	}
	tw.Flush()
	for _, a := range atts {
		started := a.StartedAt
		fmt.Fprintf(w, "\n--- attempt %d on %s: %s, exit %s, %s → %s\n", a.Number, a.Node, a.Status, fmtCode(a.ExitCode), fmtTime(&started), fmtTime(a.FinishedAt))
		if a.Error != "" {
			fmt.Fprintf(w, "error: %s\n", a.Error)
		}
		if a.OutputDropped > 0 {
			fmt.Fprintf(w, "output (%d bytes dropped from the middle):\n", a.OutputDropped)
		} else {
			fmt.Fprintln(w, "output:")
		}
		fmt.Fprint(w, a.Output)
		if a.Output != "" && !strings.HasSuffix(a.Output, "\n") {
			fmt.Fprintln(w)
		}
	}
}
