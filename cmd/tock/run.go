package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/replica"
	"github.com/tock-sched/tock/scheduler"
	"github.com/tock-sched/tock/storage/fallback"
	"github.com/tock-sched/tock/worker"
)

func newRunCmd(g *globals) *cobra.Command {
	o := replica.Options{}
	var tokenFile string
	var outputFlush time.Duration
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a replica: schedule (when leader) and execute jobs",
		Long: `Run a tock replica.

With the default --store sqlite:tock.db tock needs nothing else: it is its own
leader and queue. With --store mysql://… --redis redis://… several replicas
share the work: one leads and dispatches, all execute.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(os.Stdout)
			if err != nil {
				return err
			}
			o.ConfigPath, o.StoreURL, o.Logger = g.config, g.store, log
			// Tokens come from the environment here, not as flag defaults,
			// so that --help never prints them.
			o.APIToken, o.APIReadToken = flagOrEnv(o.APIToken, "TOCK_API_TOKEN"), flagOrEnv(o.APIReadToken, "TOCK_API_READ_TOKEN")
			if o.APIToken != "" {
				o.APITokenName, o.APIToken = api.ParseToken(o.APIToken)
			}
			if tokenFile = flagOrEnv(tokenFile, "TOCK_API_TOKEN_FILE"); tokenFile != "" {
				data, err := os.ReadFile(tokenFile)
				if err != nil {
					return exitError{2, "tock: --api-token-file: " + err.Error()}
				}
				if o.APITokens, err = api.ParseTokenFile(tokenFile, data); err != nil {
					return exitError{2, "tock: --api-token-file: " + err.Error()}
				}
			}
			if err := (api.Auth{Token: o.APIToken, TokenName: o.APITokenName, ReadToken: o.APIReadToken, Tokens: o.APITokens}).Check(); err != nil {
				return exitError{2, "tock: " + err.Error()}
			}
			switch {
			case outputFlush < 0:
				return exitError{2, "tock: --output-flush must not be negative (0 turns live output off)"}
			case outputFlush == 0:
				o.OutputFlush = -1
			default:
				o.OutputFlush = outputFlush
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, err := replica.Open(ctx, o)
			if err != nil {
				return err
			}
			return r.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.RedisURL, "redis", os.Getenv("TOCK_REDIS"), "Redis URL for the leader lease and queue, distributed mode: redis://, rediss://, redis+sentinel://host:port,…/MASTER (env TOCK_REDIS)")
	f.StringVar(&o.Cluster, "cluster", envOr("TOCK_CLUSTER", replica.DefaultCluster), "cluster name: the Redis key prefix (env TOCK_CLUSTER)")
	f.StringVar(&o.NodeID, "node", os.Getenv("TOCK_NODE"), "this replica's name (default the hostname; env TOCK_NODE)")
	f.StringVar(&o.Role, "role", envOr("TOCK_ROLE", replica.RoleAll), "all, scheduler or worker")
	f.StringVar(&o.Labels, "labels", os.Getenv("TOCK_LABELS"), "this replica's labels, key=value[,key=value…]: it runs jobs whose run_on labels it carries; a restart changes them (env TOCK_LABELS)")
	f.IntVar(&o.Workers, "workers", 16, "attempts this replica runs at once")
	f.DurationVar(&o.ShutdownGrace, "shutdown-grace", replica.DefaultShutdownGrace, "time running attempts get to finish after SIGTERM before they are canceled")
	f.DurationVar(&o.LeaseTTL, "lease-ttl", replica.DefaultLeaseTTL, "leader lease TTL (distributed mode)")
	f.DurationVar(&o.RedisFallbackAfter, "redis-fallback-after", fallback.DefaultAfter, "when Redis has been unreachable this long, replicas compete for the store's lease row instead (distributed mode)")
	f.DurationVar(&outputFlush, "output-flush", worker.DefaultOutputFlush, "while an attempt runs, its output (capped like the final output) goes to the store this often when it printed something, for tock runs logs -f, the API and the dashboard; 0 stores output only when the attempt ends")
	f.DurationVar(&o.AttemptLease, "attempt-lease", 30*time.Second, "an attempt without a heartbeat for this long is lost and retried")
	f.DurationVar(&o.ReapInterval, "reap-interval", time.Second, "how often the leader reaps expired attempts and re-enqueues queued runs")
	f.DurationVar(&o.RequeueAfter, "requeue-after", scheduler.DefaultRequeueAfter, "a queued run unclaimed this long has its doorbell rung again (a doorbell lost in transit, e.g. popped by a replica that was cut off, is rung again after it)")
	f.DurationVar(&o.DispatchTimeout, "dispatch-timeout", 10*time.Minute, "a queued run no replica claims within this time fails")
	f.DurationVar(&o.NodeAlive, "node-alive", scheduler.DefaultNodeAlive, "a replica whose last heartbeat is older than this is not live: it gets no shard of a broadcast tick, and queued shards pinned to it go to another matching replica")
	f.StringVar(&o.Listen, "listen", envOrUnset("TOCK_LISTEN", replica.DefaultListen), "address of the REST API, web dashboard, /metrics, /healthz and /readyz; empty disables them (env TOCK_LISTEN)")
	f.StringVar(&o.APIToken, "api-token", "", "bearer token every mutating API call and dashboard action needs, as name:secret or a bare secret (named \"token\"); the name is the actor in the audit trail (env TOCK_API_TOKEN)")
	f.StringVar(&tokenFile, "api-token-file", "", "file of named API tokens, one name:secret:role a line, role read or operate (env TOCK_API_TOKEN_FILE)")
	f.DurationVar(&o.Lookahead, "lookahead", time.Second, "the leader writes runs of concurrency-allow jobs up to this long before their tick, workers claim them ahead and start them at the tick; 0 dispatches at the tick")
	f.DurationVar(&o.ClockWarnOffset, "clock-warn-offset", clock.DefaultWarnOffset, "warn (log, /readyz detail) when this replica's clock is further than this from the store's; times are corrected either way (distributed mode)")
	f.DurationVar(&o.MaxClockOffset, "max-clock-offset", clock.DefaultMaxOffset, "a replica whose clock is further than this from the store's neither leads nor claims runs (distributed mode)")
	f.BoolVar(&o.Pprof, "debug-pprof", false, "serve Go profiles (net/http/pprof) under /debug/pprof/ on --listen, guarded like /metrics")
	f.StringVar(&o.APIReadToken, "api-read-token", "", "read-only token; when set, reads need it or --api-token (env TOCK_API_READ_TOKEN)")
	return cmd
}

// envOrUnset is envOr, except that a variable set to the empty string
// counts (TOCK_LISTEN= disables the HTTP server).
func envOrUnset(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func flagOrEnv(flag, key string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv(key)
}
