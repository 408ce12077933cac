package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/replica"
)

// globals are the flags every subcommand shares.
type globals struct {
	config    string
	store     string
	server    string
	token     string
	logFormat string
	logLevel  string
	// clock is "now" for commands working on the store directly.
	clock clock.Clock
}

const defaultStore = "sqlite:tock.db"

func newRootCmd() *cobra.Command { return newRoot(clock.Real{}) }

// newRoot builds the command tree; tests pass a fake clock.
func newRoot(c clock.Clock) *cobra.Command {
	g := &globals{clock: c}
	root := &cobra.Command{
		Use:           "tock",
		Short:         "tock is a distributed cron scheduler that keeps every run",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       replica.Version,
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.config, "config", "c", envOr("TOCK_CONFIG", "tock.yaml"), "config file (env TOCK_CONFIG)")
	pf.StringVar(&g.store, "store", envOr("TOCK_STORE", defaultStore), "history store: sqlite:PATH or mysql://user:pass@host:port/db (env TOCK_STORE)")
	// The server and token come from the environment when used, not as
	// flag defaults, so that --help never prints them.
	pf.StringVar(&g.server, "server", "", "URL of a tock node's API, e.g. http://tock-1:8080; jobs, runs, trigger, pause, resume, cancel and cluster then ask it instead of --store (env TOCK_SERVER)")
	pf.StringVar(&g.token, "token", "", "bearer token for --server: the secret of one of the node's tokens (--api-token without its name:, a token of its --api-token-file, or its --api-read-token for reads); its name is the actor the audit trail records (env TOCK_TOKEN)")
	pf.StringVar(&g.logFormat, "log-format", envOr("TOCK_LOG_FORMAT", "auto"), "log format: json, text, or auto (text on a terminal, else json)")
	pf.StringVar(&g.logLevel, "log-level", envOr("TOCK_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	root.AddCommand(newRunCmd(g), newValidateCmd(g), newMigrateCmd(g), newJobsCmd(g), newRunsCmd(g),
		newTriggerCmd(g), newBackfillCmd(g), newPauseCmd(g, true), newPauseCmd(g, false), newCancelCmd(g), newClusterCmd(g), newAuditCmd(g))
	return root
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// logger builds the slog logger: JSON by default, text when stderr is a
// terminal, for log shippers and people alike.
func (g *globals) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, exitError{2, "tock: --log-level " + g.logLevel + ": want debug, info, warn or error"}
	}
	format := g.logFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		// Durations as "1.5s", not nanoseconds, for people and log shippers.
		if a.Value.Kind() == slog.KindDuration {
			return slog.String(a.Key, a.Value.Duration().String())
		}
		return a
	}}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, exitError{2, "tock: --log-format " + format + ": want json, text or auto"}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
