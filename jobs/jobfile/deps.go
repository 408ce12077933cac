package jobfile

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tock-sched/tock/jobs"
)

// upstreamKeys are the keys of the long form of an after entry.
var upstreamKeys = []string{"job", "on"}

var depConditionValues = func() []string {
	out := make([]string, len(jobs.AllDepConditions))
	for i, c := range jobs.AllDepConditions {
		out[i] = string(c)
	}
	return out
}()

// depRef remembers where a job's after list was written, for the checks
// that need every job (unknown upstreams, cycles), which run once the
// jobs list is read.
type depRef struct {
	job *jobs.Job
	// nodes and paths are the job-name nodes of the after entries and
	// their field paths, in order.
	nodes []*yaml.Node
	paths []string
}

// after reads a job's after list: names (after: [a, b]) or mappings
// (after: [{job: a, on: failure}]), mixed freely; nil when it is bad.
func (d *decoder) after(n *yaml.Node, path string, j *jobs.Job) *jobs.Deps {
	if (n.Kind == yaml.ScalarNode && !isNull(n)) || n.Kind == yaml.MappingNode {
		// after: a or after: {job: a} — one upstream.
		n = &yaml.Node{Kind: yaml.SequenceNode, Line: n.Line, Column: n.Column, Content: []*yaml.Node{n}}
	}
	if isNull(n) || n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.errorf(n, path, "expected a list of upstream jobs such as [extract] or [{job: extract, on: failure}], got %s", describe(n))
		return nil
	}
	deps := &jobs.Deps{}
	ref := depRef{job: j}
	ok := true
	for i, c := range n.Content {
		c = d.resolve(c)
		p := fmt.Sprintf("%s[%d]", path, i)
		u := jobs.Upstream{On: jobs.DepSuccess}
		var nameNode *yaml.Node
		switch c.Kind {
		case yaml.ScalarNode:
			nameNode = c
		case yaml.MappingNode:
			m, mok := d.mapping(c, p, upstreamKeys)
			if !mok {
				ok = false
				continue
			}
			e, has := m.get("job")
			if !has {
				d.errorf(c, join(p, "job"), "missing required field")
				ok = false
				continue
			}
			nameNode = e.val
			if e, has := m.get("on"); has {
				v, vok := d.policy(e.val, join(p, "on"), depConditionValues)
				if !vok {
					ok = false
					continue
				}
				u.On = jobs.DepCondition(v)
			}
			p = join(p, "job")
		default:
			d.errorf(c, p, "expected a job name or {job: NAME, on: success|failure|completed}, got %s", describe(c))
			ok = false
			continue
		}
		name, sok := d.str(nameNode, p)
		if !sok {
			ok = false
			continue
		}
		switch {
		case name == "":
			d.errorf(nameNode, p, "empty upstream job name")
			ok = false
			continue
		case deps.Upstream(name) != nil:
			d.errorf(nameNode, p, "upstream job %q listed twice", name)
			ok = false
			continue
		}
		u.Job = d.intern(name)
		deps.After = append(deps.After, u)
		ref.nodes = append(ref.nodes, nameNode)
		ref.paths = append(ref.paths, p)
	}
	if !ok {
		return nil
	}
	d.deps = append(d.deps, ref)
	return deps
}

// checkDeps checks what needs every job: that each upstream exists (with
// a suggestion for a misspelt one), that no job follows itself, and that
// the graph has no cycle (named by its path).
func (d *decoder) checkDeps(all []*jobs.Job) {
	if len(d.deps) == 0 {
		return
	}
	names := make(map[string]*jobs.Job, len(all))
	for _, j := range all {
		names[j.Name] = j
	}
	var known []string
	for _, ref := range d.deps {
		for i, u := range ref.job.Deps.After {
			p := ref.paths[i]
			switch {
			case u.Job == ref.job.Name:
				d.errorf(ref.nodes[i], p, "job %q cannot follow itself", u.Job)
			case names[u.Job] == nil:
				if known == nil {
					known = make([]string, 0, len(all))
					for _, j := range all {
						known = append(known, j.Name)
					}
				}
				d.errorf(ref.nodes[i], p, "unknown upstream job %q%s", u.Job, suggest(u.Job, known))
			}
		}
	}
	// Depth-first search over the jobs that have dependencies; a job
	// reached again while on the stack closes a cycle.
	const (
		unseen = iota
		onStack
		done
	)
	state := map[string]int{}
	refOf := make(map[string]int, len(d.deps))
	for i, ref := range d.deps {
		refOf[ref.job.Name] = i
	}
	var stack []string
	reported := false
	var visit func(name string)
	visit = func(name string) {
		if reported {
			return
		}
		state[name] = onStack
		stack = append(stack, name)
		if ri, ok := refOf[name]; ok {
			ref := d.deps[ri]
			for i, u := range ref.job.Deps.After {
				if u.Job == name || names[u.Job] == nil {
					continue // reported above
				}
				switch state[u.Job] {
				case onStack:
					start := 0
					for k, s := range stack {
						if s == u.Job {
							start = k
						}
					}
					// Each job on the stack follows the next one, so
					// upstream first the cycle reads u.Job -> name -> … -> u.Job.
					cyc := []string{u.Job}
					for k := len(stack) - 1; k > start; k-- {
						cyc = append(cyc, stack[k])
					}
					cyc = append(cyc, u.Job)
					d.errorf(ref.nodes[i], ref.paths[i], "dependency cycle: %s", strings.Join(cyc, " -> "))
					reported = true
					return
				case unseen:
					visit(u.Job)
					if reported {
						return
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	for _, ref := range d.deps {
		if state[ref.job.Name] == unseen {
			visit(ref.job.Name)
		}
	}
}
