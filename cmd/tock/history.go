package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/client"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// runView is a run as the CLI prints it: the run plus its last attempt's
// output.
type runView struct {
	jobs.Run
	Output        string `json:"output"`
	OutputDropped int64  `json:"output_dropped"`
}

func newRunsCmd(g *globals) *cobra.Command {
	var (
		q              client.RunQuery
		before, output string
		withOutput     bool
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List run history, newest first",
		Example: `  tock runs --job backup --status failed --since 24h
  tock runs -o json --limit 500
  tock runs --before 2026-11-29T01:00:00Z,4711   # next page
  tock runs --server http://tock-1:8080 --status failed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if q.Limit == 0 {
				return exitError{2, fmt.Sprintf("tock: --limit: want 1 to %d", api.MaxRunLimit)}
			}
			if before != "" {
				c, err := cursorOf(before)
				if err != nil {
					return exitError{2, "tock: --before: " + err.Error()}
				}
				q.Cursor = c
			}
			return g.withBackend(cmd, q.Job, func(ctx context.Context, b client.Backend) error {
				page, err := b.Runs(ctx, q)
				if err != nil {
					return err
				}
				views := make([]runView, len(page.Runs))
				for i, r := range page.Runs {
					views[i].Run = r
					if !withOutput || output != "json" || r.Attempt == 0 {
						continue
					}
					d, err := b.Run(ctx, r.ID)
					if err != nil {
						return err
					}
					if n := len(d.Attempts); n > 0 {
						views[i].Output, views[i].OutputDropped = d.Attempts[n-1].Output, d.Attempts[n-1].OutputDropped
					}
				}
				if output == "json" {
					return printJSON(cmd.OutOrStdout(), views)
				}
				printRuns(cmd.OutOrStdout(), views)
				if page.NextCursor != "" && len(page.Runs) > 0 {
					last := page.Runs[len(page.Runs)-1]
					fmt.Fprintf(cmd.ErrOrStderr(), "more: --before %s,%d\n", last.ScheduledAt.UTC().Format(time.RFC3339Nano), last.ID)
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Job, "job", "", "only this job")
	fl.StringVar(&q.Status, "status", "", "only this status: "+joinStatuses())
	fl.StringVar(&q.Trigger, "trigger", "", "only this trigger: schedule, catchup, manual, retry, backfill")
	fl.StringVar(&q.Since, "since", "", "scheduled at or after: a duration ago (24h, 7d) or RFC 3339 time")
	fl.StringVar(&q.Until, "until", "", "scheduled before: a duration ago or RFC 3339 time")
	fl.StringVar(&before, "before", "", "keyset cursor: SCHEDULED_AT,ID as printed after the previous page, or the API's next_cursor")
	fl.IntVar(&q.Limit, "limit", api.DefaultRunLimit, fmt.Sprintf("rows, at most %d", api.MaxRunLimit))
	outputFlag(cmd, &output)
	fl.BoolVar(&withOutput, "with-output", true, "include each run's last captured output in -o json")
	cmd.AddCommand(newRunsShowCmd(g), newRunsLogsCmd(g))
	return cmd
}

func joinStatuses() string {
	s := make([]string, len(jobs.AllStatuses))
	for i, st := range jobs.AllStatuses {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// cursorOf reads --before: SCHEDULED_AT,ID as the table prints it, or the
// API's opaque next_cursor, which the backend checks.
func cursorOf(s string) (string, error) {
	ts, id, ok := strings.Cut(s, ",")
	if !ok {
		return s, nil
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return "", fmt.Errorf("time: %w", err)
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return "", errors.New("id: want a positive run id after the comma")
	}
	return api.EncodeCursor(storage.Cursor{ScheduledAt: t.UTC(), ID: n}), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
	fmt.Fprintln(tw, "ID\tJOB\tSCHEDULED (UTC)\tTRIGGER\tSTATUS\tATTEMPT\tSHARD\tNODE\tSTARTED\tFINISHED\tEXIT\tERROR")
	for _, r := range runs {
		sched := r.ScheduledAt
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Job, fmtTime(&sched), r.Trigger, r.Status,
			r.Attempt, r.MaxAttempts, fmtShard(r.Run), dash(r.Node), fmtTime(r.StartedAt), fmtTime(r.FinishedAt), fmtCode(r.ExitCode), oneLine(r.Error, 60))
	}
	tw.Flush()
}

// fmtEpoch is an attempt's leader epoch; 0 (recorded before tock stored
// it) is unknown.
func fmtEpoch(e int64) string {
	if e == 0 {
		return "-"
	}
	return strconv.FormatInt(e, 10)
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

// parseRunID reads a RUN_ID argument.
func parseRunID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, exitError{2, fmt.Sprintf("tock: run id %q: want a number", s)}
	}
	return id, nil
}

func newRunsShowCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one run with its attempts, exit codes and output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			return g.withBackend(cmd, "", func(ctx context.Context, b client.Backend) error {
				d, err := b.Run(ctx, id)
				switch {
				case err != nil:
					return err
				case output == "json":
					return printJSON(cmd.OutOrStdout(), struct {
						jobs.Run
						Attempts []jobs.Attempt `json:"attempts"`
					}{d.Run, d.Attempts})
				}
				printRun(cmd.OutOrStdout(), d.Run, d.Attempts)
				return nil
			})
		},
	}
	outputFlag(cmd, &output)
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
	if len(r.UpstreamRuns) > 0 {
		fmt.Fprintf(tw, "upstream runs\t%s\n", joinIDs(r.UpstreamRuns))
	}
	if len(r.DownstreamRuns) > 0 {
		fmt.Fprintf(tw, "downstream runs\t%s\n", joinIDs(r.DownstreamRuns))
	}
	fmt.Fprintf(tw, "status\t%s\n", r.Status)
	fmt.Fprintf(tw, "attempts\t%d of %d\n", r.Attempt, r.MaxAttempts)
	fmt.Fprintf(tw, "node\t%s\n", dash(r.Node))
	if r.ShardTotal > 0 {
		pin := "not pinned"
		if r.PinnedNode != "" {
			pin = "pinned to " + r.PinnedNode
		}
		fmt.Fprintf(tw, "shard\t%d of %d (index from 0; %s)\n", r.Shard, r.ShardTotal, pin)
	}
	if r.RunOnLabels != "" {
		fmt.Fprintf(tw, "run_on\t%s\n", r.RunOnLabels)
	}
	fmt.Fprintf(tw, "started\t%s\n", fmtTime(r.StartedAt))
	fmt.Fprintf(tw, "finished\t%s\n", fmtTime(r.FinishedAt))
	fmt.Fprintf(tw, "exit code\t%s\n", fmtCode(r.ExitCode))
	if r.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", r.Error)
	}
	if r.CancelRequested {
		fmt.Fprintf(tw, "cancel\trequested\n")
	}
	if r.BackfillID != 0 {
		fmt.Fprintf(tw, "backfill\t%d\n", r.BackfillID)
	}
	if r.Traceparent != "" {
		fmt.Fprintf(tw, "traceparent\t%s\n", r.Traceparent)
	}
	if len(r.Params) > 0 {
		keys := make([]string, 0, len(r.Params))
		for k := range r.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			label := ""
			if i == 0 {
				label = "params"
			}
			fmt.Fprintf(tw, "%s\t%s=%s\n", label, k, strconv.Quote(r.Params[k]))
		}
	}
	tw.Flush()
	for _, a := range atts {
		started := a.StartedAt
		fmt.Fprintf(w, "\n--- attempt %d on %s, epoch %s: %s, exit %s, %s → %s\n", a.Number, a.Node, fmtEpoch(a.Epoch), a.Status,
			fmtCode(a.ExitCode), fmtTime(&started), fmtTime(a.FinishedAt))
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

// fmtShard is a run's shard as index/total (index from 0), "-" for a run
// that is not a broadcast shard.
func fmtShard(r jobs.Run) string {
	if r.ShardTotal == 0 {
		return "-"
	}
	return strconv.Itoa(r.Shard) + "/" + strconv.Itoa(r.ShardTotal)
}

// joinIDs lists run ids as "12, 13".
func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ", ")
}
