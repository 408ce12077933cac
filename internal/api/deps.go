package api

import (
	"context"

	"github.com/tock-sched/tock/jobs"
)

// DepGraph is the part of the config's dependency graph around one job:
// every edge on a path into it (Upstream, the jobs it waits for, directly
// or through others) and out of it (Downstream, the jobs that follow it).
type DepGraph struct {
	Job        string         `json:"job"`
	Upstream   []jobs.DepEdge `json:"upstream"`
	Downstream []jobs.DepEdge `json:"downstream"`
}

// Graph returns the dependency graph around a job of this node's config.
func (s *Service) Graph(_ context.Context, name string) (DepGraph, error) {
	if err := CheckJobName("name", name); err != nil {
		return DepGraph{}, err
	}
	cfg := s.opts.Config()
	if cfg.Job(name) == nil {
		return DepGraph{}, unknownJob(name)
	}
	g := DepGraph{Job: name}
	// Breadth first both ways; validation guarantees no cycle, seen guards
	// against diamonds listing an edge twice.
	seen := map[string]bool{name: true}
	for queue := []string{name}; len(queue) > 0; queue = queue[1:] {
		j := cfg.Job(queue[0])
		if j == nil || j.Deps == nil {
			continue
		}
		for _, u := range j.Deps.After {
			g.Upstream = append(g.Upstream, jobs.DepEdge{Upstream: u.Job, Job: j.Name, On: u.On})
			if !seen[u.Job] {
				seen[u.Job] = true
				queue = append(queue, u.Job)
			}
		}
	}
	seen = map[string]bool{name: true}
	for queue := []string{name}; len(queue) > 0; queue = queue[1:] {
		for _, d := range cfg.Dependents(queue[0]) {
			g.Downstream = append(g.Downstream, jobs.DepEdge{Upstream: queue[0], Job: d.Name, On: d.Deps.Upstream(queue[0]).On})
			if !seen[d.Name] {
				seen[d.Name] = true
				queue = append(queue, d.Name)
			}
		}
	}
	return g, nil
}
