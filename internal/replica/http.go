package replica

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
func (r *Replica) initOps() { r.ops.metrics = metrics.New() }

// Metrics returns the replica's metrics.
func (r *Replica) Metrics() *metrics.Metrics { return r.ops.metrics }

// HTTPAddr returns the address the HTTP server is bound to, "" when it does
// not run.
func (r *Replica) HTTPAddr() string {
	if r.ops.server == nil {
		return ""
	}
	return r.ops.server.Addr()
}

// leaseState is this replica's part in leadership, for readiness.
func (r *Replica) leaseState() string {
	switch {
	case r.Scheduler == nil:
		return api.LeaseWorkerOnly
	case r.Scheduler.IsLeader():
		return api.LeaseLeader
	}
	return api.LeaseStandby
}

// leaseBackend is the lease backend this replica holds or competes on:
// memory (embedded), redis, or mysql while Redis is unreachable.
func (r *Replica) leaseBackend() string {
	if r.fallback == nil {
		return "memory"
	}
	if b := r.fallback.Backend(); b != "" {
		return b
	}
	return r.fallback.Competing()
}

// startHTTP binds Options.Listen and serves the API, dashboard, /metrics,
// /healthz and /readyz until stopHTTP; an empty Listen serves nothing.
func (r *Replica) startHTTP(ctx context.Context) error {
	m := r.ops.metrics
	src := metrics.Sources{
		QueueLen:     r.queue.Len,
		ConfigState:  r.reloader.LastError,
		Jobs:         func() int { return len(r.Config().Jobs) },
		ClockOffset:  r.ClockOffset,
		LeaseBackend: r.leaseBackend,
	}
	if r.Workers != nil {
		src.Busy, src.Capacity = r.Workers.Busy, r.Workers.Capacity
	}
	if r.Scheduler != nil {
		src.IsLeader, src.Epoch = r.Scheduler.IsLeader, r.Scheduler.Epoch
	}
	m.Observe(src)
	if r.opts.Listen == "" {
		return nil
	}
	log := r.log.With(slog.String("node", r.opts.NodeID))
	so := api.ServiceOptions{
		Store:        r.store,
		Config:       r.Config,
		NodeID:       r.opts.NodeID,
		LeaseState:   r.leaseState,
		LeaseBackend: r.leaseBackend,
		ConfigError:  func() error { err, _ := r.reloader.LastError(); return err },
		StoreError:   func(op string) { m.StoreError("api_" + op) },
		ClockError:   r.clockHealthy,
		QueuePing: func(ctx context.Context) error {
			_, err := r.queue.Len(ctx)
			return err
		},
		Logger: log,
	}
	if r.Scheduler != nil {
		so.Waker = r.Scheduler
	}
	so.Clock = r.clock
	svc := api.NewService(so)
	auth := api.Auth{Token: r.opts.APIToken, TokenName: r.opts.APITokenName, ReadToken: r.opts.APIReadToken, Tokens: r.opts.APITokens}
	a, err := api.New(api.Options{Service: svc, Auth: auth, Logger: log})
	if err != nil {
		return err
	}
	do := dashboard.Options{Service: svc, Auth: auth, Logger: log, Version: Version, Clock: r.clock}
	if r.Workers != nil {
		do.Breakers = r.Workers.Breakers
	}
	dash, err := dashboard.New(do)
	if err != nil {
		return err
	}
	srv, err := httpserver.New(httpserver.Options{Addr: r.opts.Listen, API: a, Dashboard: dash,
		Metrics: m.Handler(log), Pprof: r.opts.Pprof, Auth: auth, Logger: log})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	r.ops.server = srv
	return nil
}

// stopHTTP stops the HTTP server, letting requests in flight finish within
// its shutdown timeout. Idempotent.
func (r *Replica) stopHTTP() {
	if r.ops.server != nil {
		r.ops.server.Stop()
	}
}
