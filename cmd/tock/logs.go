package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/client"
)

func newRunsLogsCmd(g *globals) *cobra.Command {
	var follow bool
	var attempt int
	cmd := &cobra.Command{
		Use:   "logs RUN_ID",
		Short: "Print a run's output; -f follows it while the attempt runs",
		Long: `Print the output of a run's latest attempt (or --attempt N): stdout and
stderr as captured, head and tail kept within the output cap. While the
attempt runs this is what its worker stored so far (every --output-flush of
tock run). With -f, follow the output as it grows until the attempt ends
(a run still queued is followed once it starts); the attempt's final state
is printed on stderr at the end. Without --attempt, -f follows the run:
an attempt that ends with a retry to come is followed by the next one,
until the run ends. With --store it reads the store; with --server it
follows the API's event stream.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			if attempt < 0 {
				return exitError{2, "tock: --attempt: want 1 or more"}
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			return g.withBackend(cmd, "", func(ctx context.Context, b client.Backend) error {
				if !follow {
					l, err := b.Logs(ctx, id, attempt)
					if err != nil {
						return err
					}
					if _, err := io.WriteString(out, l.Output); err != nil {
						return err
					}
					printLogsState(errOut, l, l.Output)
					return nil
				}
				for cur := attempt; ; {
					var last string
					var end *api.RunLogs
					err := b.FollowLogs(ctx, id, cur, func(ev api.LogEvent) error {
						switch {
						case ev.Output != nil:
							last = ev.Output.Text
							_, err := io.WriteString(out, ev.Output.Text)
							return err
						case ev.End != nil:
							e := *ev.End
							end = &e
							printLogsState(errOut, e, last)
						}
						return nil
					})
					// Following the latest attempt follows the run: when
					// the attempt ended with a retry to come, the next
					// attempt is followed once it starts.
					if err != nil || attempt != 0 || end == nil || end.Attempt == 0 || end.RunStatus.Terminal() {
						return err
					}
					if cur, err = nextAttempt(ctx, b, errOut, id, end.Attempt); err != nil || cur == 0 {
						return err
					}
				}
			})
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the output until the attempt ends")
	cmd.Flags().IntVar(&attempt, "attempt", 0, "attempt number (default the latest)")
	return cmd
}

// retryPoll is how often a follower asks whether a run's next attempt has
// started.
const retryPoll = 500 * time.Millisecond

// nextAttempt waits until run id has an attempt after prev and returns its
// number, or 0 when the run ended without one (said on w).
func nextAttempt(ctx context.Context, b client.Backend, w io.Writer, id int64, prev int) (int, error) {
	t := time.NewTicker(retryPoll)
	defer t.Stop()
	for {
		l, err := b.Logs(ctx, id, 0)
		if err != nil {
			return 0, err
		}
		switch {
		case l.Attempt > prev:
			return l.Attempt, nil
		case l.RunStatus.Terminal():
			fmt.Fprintf(w, "-- run %d %s%s\n", id, l.RunStatus, suffix(l.Error))
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// printLogsState says on w where the attempt of l stands, after its
// output (whose last text was last).
func printLogsState(w io.Writer, l api.RunLogs, last string) {
	nl := ""
	if last != "" && last[len(last)-1] != '\n' {
		nl = "\n"
	}
	switch {
	case l.Attempt == 0 && l.Ended:
		fmt.Fprintf(w, "%s-- run %d %s without an attempt%s\n", nl, l.RunID, l.RunStatus, suffix(l.Error))
	case l.Attempt == 0:
		fmt.Fprintf(w, "%s-- run %d is %s: no attempt started yet (-f waits for it)\n", nl, l.RunID, l.RunStatus)
	case !l.Ended:
		fmt.Fprintf(w, "%s-- attempt %d of run %d is running (-f follows it)\n", nl, l.Attempt, l.RunID)
	default:
		code := ""
		if l.ExitCode != nil {
			code = fmt.Sprintf(" (exit %d)", *l.ExitCode)
		}
		fmt.Fprintf(w, "%s-- attempt %d of run %d %s%s%s\n", nl, l.Attempt, l.RunID, l.Status, code, suffix(l.Error))
	}
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}
