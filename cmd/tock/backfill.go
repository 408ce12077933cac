package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/client"
	"github.com/tock-sched/tock/jobs"
)

func newBackfillCmd(g *globals) *cobra.Command {
	var req api.BackfillRequest
	var output string
	var maxConcurrent int
	cmd := &cobra.Command{
		Use:   "backfill JOB --from T1 --to T2",
		Short: "Create a run for every past tick of a job's schedule in a range (idempotent)",
		Long: fmt.Sprintf(`Create a run with trigger backfill for every tick of the job's schedule
(in its time zone) from --from to --to, both inclusive. A tick that already
has a run of any trigger (scheduled, catch-up, missed, an earlier backfill) is
reported, not duplicated, so running the same backfill again creates nothing
new. --to must not be in the future; ticks the scheduler has not reached yet
are left to it. At most %d ticks per backfill. With --max-concurrent N the
leader keeps at most N (default %d) of the backfill's runs queued or
running at once.

--from and --to take an RFC 3339 time or a duration before now (24h, 7d);
--to also takes "now".`, api.MaxBackfillTicks, api.DefaultBackfillMaxConcurrent),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if req.From == "" || req.To == "" {
				return exitError{2, "tock: --from and --to are required"}
			}
			if maxConcurrent < 0 {
				return exitError{2, "tock: --max-concurrent: must not be negative"}
			}
			req.MaxConcurrent = &maxConcurrent
			req.Actor = cliActor()
			return g.withBackend(cmd, args[0], func(ctx context.Context, b client.Backend) error {
				res, err := b.Backfill(ctx, args[0], req)
				if err != nil {
					return err
				}
				if output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				printBackfill(cmd.OutOrStdout(), res)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.From, "from", "", "first instant of the range: RFC 3339 or a duration ago (7d)")
	fl.StringVar(&req.To, "to", "", "last instant of the range: RFC 3339, a duration ago, or now")
	fl.IntVar(&maxConcurrent, "max-concurrent", api.DefaultBackfillMaxConcurrent,
		"at most N of the backfill's runs queued or running at once (0: no bound of its own; runs queued longer than --dispatch-timeout fail)")
	fl.BoolVar(&req.DryRun, "dry-run", false, "say what would be created, write nothing")
	outputFlag(cmd, &output)
	return cmd
}

// cliActor names who runs the command on the store (--store mode), for
// the audit table and the backfill record: cli:<user>@<host>.
func cliActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "cli:" + name + "@" + host
}

func printBackfill(w io.Writer, b api.Backfill) {
	verb, id := "created", fmt.Sprintf(", backfill %d", b.ID)
	if b.DryRun {
		verb, id = "would create", " (dry run)"
	}
	fmt.Fprintf(w, "backfill of %s from %s to %s: %d ticks%s\n", b.Job, b.From.UTC().Format(time.RFC3339), b.To.UTC().Format(time.RFC3339), b.Ticks, id)
	fmt.Fprintf(w, "%s %d runs\n", verb, b.Created)
	fmt.Fprintf(w, "already present %d", b.Present)
	if b.Present > 0 {
		sts := make([]string, 0, len(b.PresentByStatus))
		for st := range b.PresentByStatus {
			sts = append(sts, string(st))
		}
		sort.Strings(sts)
		fmt.Fprint(w, " (")
		for i, st := range sts {
			if i > 0 {
				fmt.Fprint(w, ", ")
			}
			fmt.Fprintf(w, "%s %d", st, b.PresentByStatus[jobs.RunStatus(st)])
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	for _, e := range b.Examples {
		if e.RunID == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s: run %d, %s, %s\n", e.At.UTC().Format(time.RFC3339), e.RunID, e.Trigger, e.Status)
	}
	if b.LeftToScheduler > 0 {
		fmt.Fprintf(w, "left to the scheduler %d (after its cursor %s)\n", b.LeftToScheduler, b.Cursor.UTC().Format(time.RFC3339))
	}
	if b.MaxConcurrent > 0 && !b.DryRun {
		fmt.Fprintf(w, "at most %d of its runs queued or running at once\n", b.MaxConcurrent)
	}
}
