package node

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/internal/dashboard"
	"github.com/tock-sched/tock/internal/httpserver"
	"github.com/tock-sched/tock/internal/metrics"
)

// DefaultListen is the default address of the API, dashboard and metrics.
const DefaultListen = "127.0.0.1:8080"

// opsSurface is the replica's operations surface: its metrics, fed from
// the moment the scheduler and pool are built, and the HTTP server that
// serves them with the API and dashboard.
type opsSurface struct {
	metrics *metrics.Metrics
	server  *httpserver.Server
}

// initOps creates the metrics; Open calls it before building the scheduler
// and pool so their Events feed it.
func (n *Node) initOps() { n.ops.metrics = metrics.New() }

// Metrics returns the replica's metrics.
func (n *Node) Metrics() *metrics.Metrics { return n.ops.metrics }

// HTTPAddr returns the address the HTTP server is bound to, "" when it does
// not run.
func (n *Node) HTTPAddr() string {
	if n.ops.server == nil {
		return ""
	}
	return n.ops.server.Addr()
}

// leaseState is this replica's part in leadership, for readiness.
func (n *Node) leaseState() string {
	switch {
	case n.Scheduler == nil:
		return api.LeaseWorkerOnly
	case n.Scheduler.IsLeader():
		return api.LeaseLeader
	}
	return api.LeaseStandby
}

// startHTTP binds Options.Listen and serves the API, dashboard, /metrics,
// /healthz and /readyz until stopHTTP; an empty Listen serves nothing.
func (n *Node) startHTTP(ctx context.Context) error {
	m := n.ops.metrics
	src := metrics.Sources{
		QueueLen:    n.queue.Len,
		ConfigState: n.reloader.LastError,
		Jobs:        func() int { return len(n.Config().Jobs) },
		ClockOffset: n.ClockOffset,
	}
	if n.Workers != nil {
		src.Busy, src.Capacity = n.Workers.Busy, n.Workers.Capacity
	}
	if n.Scheduler != nil {
		src.IsLeader, src.Epoch = n.Scheduler.IsLeader, n.Scheduler.Epoch
	}
	m.Observe(src)
	if n.opts.Listen == "" {
		return nil
	}
	log := n.log.With(slog.String("node", n.opts.NodeID))
	so := api.ServiceOptions{
		Store:       n.store,
		Config:      n.Config,
		NodeID:      n.opts.NodeID,
		LeaseState:  n.leaseState,
		ConfigError: func() error { err, _ := n.reloader.LastError(); return err },
		StoreError:  func(op string) { m.StoreError("api_" + op) },
		ClockError:  n.clockHealthy,
		QueuePing: func(ctx context.Context) error {
			_, err := n.queue.Len(ctx)
			return err
		},
		Logger: log,
	}
	if n.Scheduler != nil {
		so.Waker = n.Scheduler
	}
	so.Clock = n.clock
	svc := api.NewService(so)
	auth := api.Auth{Token: n.opts.APIToken, ReadToken: n.opts.APIReadToken}
	a, err := api.New(api.Options{Service: svc, Auth: auth, Logger: log})
	if err != nil {
		return err
	}
	do := dashboard.Options{Service: svc, Auth: auth, Logger: log, Version: Version, Clock: n.clock}
	if n.Workers != nil {
		do.Breakers = n.Workers.Breakers
	}
	dash, err := dashboard.New(do)
	if err != nil {
		return err
	}
	srv, err := httpserver.New(httpserver.Options{Addr: n.opts.Listen, API: a, Dashboard: dash,
		Metrics: m.Handler(log), Pprof: n.opts.Pprof, Auth: auth, Logger: log})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	n.ops.server = srv
	return nil
}

// stopHTTP stops the HTTP server, letting requests in flight finish within
// its shutdown timeout. Idempotent.
func (n *Node) stopHTTP() {
	if n.ops.server != nil {
		n.ops.server.Stop()
	}
}
