package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/storage"
)

// nodeStale is how old a node heartbeat may be before it counts as gone.
const nodeStale = 30 * time.Second

// clusterView is what `tock cluster` shows.
type clusterView struct {
	Leader       string     `json:"leader"`
	Epoch        int64      `json:"epoch"`
	LeaderDigest string     `json:"leader_config_digest"`
	Nodes        []nodeView `json:"nodes"`
}

type nodeView struct {
	storage.Node
	Alive          bool `json:"alive"`
	Leader         bool `json:"leader"`
	DigestMismatch bool `json:"config_digest_mismatch"`
}

func newClusterCmd(g *globals) *cobra.Command {
	var output string
	var all bool
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show replicas, the leader, its epoch, and replicas whose config differs from the leader's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := g.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := loadCluster(ctx, st, all)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			fmt.Fprintf(out, "leader %s, epoch %d\n\n", dash(v.Leader), v.Epoch)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tHOST\tROLE\tVERSION\tCONFIG DIGEST\tHEARTBEAT (UTC)\tSTATE")
			for _, n := range v.Nodes {
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
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.Host, n.Role, n.Version, n.Digest, fmtTime(&hb), state)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.Flags().BoolVar(&all, "all", false, "include nodes gone for more than a day")
	return cmd
}

func loadCluster(ctx context.Context, st storage.Store, all bool) (clusterView, error) {
	var v clusterView
	leader, epoch, err := st.Leader(ctx)
	if err != nil {
		return v, fmt.Errorf("reading leader: %w", err)
	}
	v.Leader, v.Epoch = leader, epoch
	since := time.Now().Add(-24 * time.Hour)
	if all {
		since = time.Time{}
	}
	nodes, err := st.Nodes(ctx, since)
	if err != nil {
		return v, fmt.Errorf("reading nodes: %w", err)
	}
	for _, n := range nodes {
		if n.ID == leader {
			v.LeaderDigest = n.Digest
		}
	}
	now := time.Now()
	for _, n := range nodes {
		alive := now.Sub(n.Heartbeat) < nodeStale
		v.Nodes = append(v.Nodes, nodeView{Node: n, Alive: alive, Leader: n.ID == leader,
			DigestMismatch: alive && v.LeaderDigest != "" && n.Digest != v.LeaderDigest})
	}
	return v, nil
}
