package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/client"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/replica"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
)

// openStore opens and migrates the store named by --store for a CLI command.
func (g *globals) openStore(ctx context.Context) (storage.Store, error) {
	log, err := g.logger(io.Discard)
	if err != nil {
		return nil, err
	}
	st, err := replica.OpenStore(ctx, g.store, log)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrating store: %w", err)
	}
	return st, nil
}

// backend returns what the jobs, runs, trigger, pause, resume, cancel and
// cluster commands ask: the REST API of --server, or else the store of
// --store. done releases it.
func (g *globals) backend(cmd *cobra.Command) (b client.Backend, done func(), err error) {
	g.server = flagOrEnv(g.server, "TOCK_SERVER")
	if g.server != "" {
		if cmd.Flags().Changed("store") {
			return nil, nil, exitError{2, "tock: --server and --store exclude each other; pick one"}
		}
		c, err := client.NewHTTP(client.HTTPOptions{Server: g.server, Token: flagOrEnv(g.token, "TOCK_TOKEN"), UserAgent: "tock/" + replica.Version})
		if err != nil {
			return nil, nil, exitError{2, "tock: --server: " + err.Error()}
		}
		g.server = c.Server()
		return c, c.CloseIdleConnections, nil
	}
	st, err := g.openStore(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	b = client.NewDirect(client.DirectOptions{Store: st, Clock: g.storeClock(cmd.Context(), st), Actor: cliActor(),
		Config: func() (*jobs.Config, error) { return jobfile.Load(g.config) }})
	return b, func() { st.Close() }, nil
}

// storeClock is the time the CLI writes in store mode: the store's (I9),
// measured once, so that a manual trigger or a cancel from a machine with a
// wrong clock is stamped like the replicas stamp theirs. The embedded store's
// clock is this process's.
func (g *globals) storeClock(ctx context.Context, st storage.Store) clock.Clock {
	if replica.IsEmbedded(g.store) {
		return g.clock
	}
	c := clock.NewSynced(clock.SyncedOptions{Read: st.Now, Local: g.clock, Samples: 3})
	if err := c.Sync(ctx); err != nil {
		// The command's own store call will say what is wrong.
		return g.clock
	}
	return c
}

// withBackend runs f against the backend and releases it after; f's error
// is explained for the operator (job names the job the command is about).
func (g *globals) withBackend(cmd *cobra.Command, job string, f func(ctx context.Context, b client.Backend) error) error {
	b, done, err := g.backend(cmd)
	if err != nil {
		return err
	}
	defer done()
	return g.explain(f(cmd.Context(), b), job)
}

// outputFlag adds -o table|json to cmd.
func outputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "table", "table or json")
}

// checkOutput refuses a -o other than table or json.
func checkOutput(output string) error {
	if output != "table" && output != "json" {
		return exitError{2, "tock: -o: want table or json"}
	}
	return nil
}

// explain turns a backend error into what the operator reads and the exit
// code: 2 for a bad flag or argument, 1 otherwise. job names the job the
// command was about, if any.
func (g *globals) explain(err error, job string) error {
	var e *api.Error
	if err == nil || errors.As(err, &exitError{}) {
		return err
	}
	if !errors.As(err, &e) {
		if errors.Is(err, fs.ErrNotExist) && g.server == "" {
			return exitError{1, "tock: " + err.Error() + "\n(jobs, trigger, pause and resume read --config; or ask a running node with --server)"}
		}
		return err
	}
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		return exitError{1, fmt.Sprintf("tock: unauthorized: pass --token or TOCK_TOKEN (%s said: %s)", g.server, e.Msg)}
	case errors.Is(err, client.ErrForbidden):
		return exitError{1, "tock: forbidden: " + e.Msg}
	case errors.Is(err, api.ErrUnknownJob):
		where := g.config
		if g.server != "" {
			where = "the config of " + g.server
		}
		return exitError{1, fmt.Sprintf("tock: job %q is not defined in %s", job, where)}
	case errors.Is(err, api.ErrBadParam) && e.Param != "":
		return exitError{2, "tock: " + flagOf(e.Param) + ": " + strings.TrimPrefix(e.Msg, e.Param+": ")}
	}
	return exitError{1, "tock: " + e.Msg}
}

// flagOf names the flag or argument behind an API parameter.
func flagOf(param string) string {
	switch param {
	case "name":
		return "JOB"
	case "id":
		return "RUN_ID"
	case "cursor":
		return "--before"
	case "max_concurrent":
		return "--max-concurrent"
	}
	if name, ok := strings.CutPrefix(param, "params."); ok {
		return "--param " + name
	}
	return "--" + param
}

func newMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the store's schema (tock run does this too); always works on --store",
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
