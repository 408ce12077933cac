package worker

import (
	"context"
	"slices"

	"github.com/tock-sched/tock/jobs"
)

// Routes returns the doorbell routes this pool pops besides the general
// queue: its node's (broadcast shards pinned to it) and, for every job of
// its config whose run_on labels it carries, that job's labels route. A
// replica thus never pops the doorbell of a run it may not run, and the
// replicas that may are not starved of it. Computed once per config.
func (p *Pool) Routes() []string { return *p.routes.Load() }

// setRoutes computes the routes of cfg and, when they changed, ends the
// wait of a pop in progress so that the next one listens on them.
func (p *Pool) setRoutes(cfg *jobs.Config) {
	r := Routes(cfg, p.opts.Node, p.opts.Labels)
	if old := p.routes.Swap(&r); old != nil && !slices.Equal(*old, r) {
		p.popMu.Lock()
		if p.popCancel != nil {
			p.popCancel()
		}
		p.popMu.Unlock()
	}
}

// popContext is the context of one pop: canceled by setRoutes when the
// routes change.
func (p *Pool) popContext(ctx context.Context) (context.Context, func()) {
	pctx, cancel := context.WithCancel(ctx)
	p.popMu.Lock()
	p.popCancel = cancel
	p.popMu.Unlock()
	return pctx, func() {
		p.popMu.Lock()
		p.popCancel = nil
		p.popMu.Unlock()
		cancel()
	}
}

// Routes are the routes a worker of node carrying labels pops, with cfg:
// NodeRoute(node) and the sorted, distinct labels routes of the jobs of
// cfg that require labels it carries.
func Routes(cfg *jobs.Config, node string, labels jobs.Labels) []string {
	seen := map[string]bool{}
	var out []string
	if cfg != nil {
		for _, j := range cfg.Jobs {
			if j.RunOn == nil || len(j.RunOn.Labels) == 0 || !j.RunsOn(labels) {
				continue
			}
			if r := jobs.LabelsRoute(j.RequiredLabels()); !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return append([]string{jobs.NodeRoute(node)}, out...)
}
