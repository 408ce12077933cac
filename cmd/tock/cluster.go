package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/client"
)

func newClusterCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show replicas seen in the last day, the leader, its epoch, and replicas whose config differs from the leader's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return g.withBackend(cmd, "", func(ctx context.Context, b client.Backend) error {
				c, err := b.Cluster(ctx)
				switch {
				case err != nil:
					return err
				case output == "json":
					return printJSON(cmd.OutOrStdout(), c)
				}
				return printCluster(cmd.OutOrStdout(), c)
			})
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

func printCluster(w io.Writer, c api.Cluster) error {
	fmt.Fprintf(w, "leader %s, epoch %d\n", dash(c.Leader), c.Epoch)
	if l := c.Lease; l != nil {
		how := "Redis lease and the store's lease row"
		if l.Backend == "mysql" {
			how = "the store's lease row alone: Redis unreachable"
		}
		fmt.Fprintf(w, "lease backend %s (%s), held by %s until %s\n", l.Backend, how, l.Node, fmtTime(&l.Until))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHOST\tROLE\tVERSION\tCONFIG DIGEST\tHEARTBEAT (UTC)\tCLOCK OFFSET\tLABELS\tSTATE")
	for _, n := range c.Nodes {
		state := "alive"
		if !n.Alive {
			state = "gone"
		}
		if n.Leader {
			state += ", leader"
		}
		if n.DigestMismatch {
			state += ", CONFIG DIFFERS FROM LEADER"
		}
		hb := n.Heartbeat
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.Host, n.Role, n.Version, n.Digest, fmtTime(&hb),
			n.ClockOffsetText(), dash(n.Labels.String()), state)
	}
	return tw.Flush()
}
