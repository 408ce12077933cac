package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/client"
	"github.com/tock-sched/tock/storage"
)

func newAuditCmd(g *globals) *cobra.Command {
	var (
		q      client.AuditQuery
		output string
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the audit trail: who triggered, paused, resumed, canceled or backfilled what, newest first",
		Example: `  tock audit --since 24h
  tock audit -o json --limit 500
  tock audit --before 4711          # next page
  tock audit --server http://tock-1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if q.Limit < 1 || q.Limit > storage.MaxAuditLimit {
				return exitError{2, fmt.Sprintf("tock: --limit: want 1 to %d", storage.MaxAuditLimit)}
			}
			return g.withBackend(cmd, "", func(ctx context.Context, b client.Backend) error {
				page, err := b.Audit(ctx, q)
				if err != nil {
					return err
				}
				if output == "json" {
					return printJSON(cmd.OutOrStdout(), page.Entries)
				}
				printAudit(cmd.OutOrStdout(), page.Entries)
				if page.NextCursor != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "more: --before %s\n", page.NextCursor)
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Since, "since", "", "recorded at or after: a duration ago (24h, 7d) or RFC 3339 time")
	fl.StringVar(&q.Cursor, "before", "", "keyset cursor: the id printed after the previous page (the API's next_cursor)")
	fl.IntVar(&q.Limit, "limit", storage.DefaultAuditLimit, fmt.Sprintf("rows, at most %d", storage.MaxAuditLimit))
	outputFlag(cmd, &output)
	return cmd
}

func printAudit(w io.Writer, rows []storage.AuditEntry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAT\tACTOR\tSOURCE\tACTION\tTARGET\tDETAIL")
	for _, e := range rows {
		detail := e.Detail
		if detail == "{}" {
			detail = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.UTC().Format(time.RFC3339), e.Actor, e.Source, e.Action, e.Target,
			strings.ReplaceAll(detail, "\t", " "))
	}
	_ = tw.Flush()
}
