package jobfile

import (
	"gopkg.in/yaml.v3"

	"github.com/tock-sched/tock/jobs"
)

// runOn reads a job's run_on block: labels (a mapping of label to value,
// each checked by jobs.CheckLabel) and broadcast. A block that requires
// nothing, or an empty labels mapping, is an error: it is almost surely a
// mistake, and a job that runs anywhere simply has no run_on.
func (d *decoder) runOn(n *yaml.Node, path string) *jobs.Placement {
	m, ok := d.mapping(n, path, runOnKeys)
	if !ok {
		return nil
	}
	p := &jobs.Placement{}
	ok = true
	if e, found := m.get("labels"); found {
		lp := join(path, "labels")
		switch {
		case isNull(e.val) || (e.val.Kind == yaml.MappingNode && len(e.val.Content) == 0):
			d.errorf(e.key, lp, "empty labels: name at least one label, or remove labels")
			ok = false
		default:
			labels, lok := d.strMap(e.val, lp)
			if !lok {
				ok = false
				break
			}
			for i := 0; i+1 < len(e.val.Content); i += 2 {
				k, v := d.resolve(e.val.Content[i]), d.resolve(e.val.Content[i+1])
				if err := jobs.CheckLabel(k.Value, v.Value); err != nil {
					d.errorf(k, join(lp, k.Value), "%s", err)
					ok = false
				}
			}
			if len(labels) > jobs.MaxLabels {
				d.errorf(e.val, lp, "%d labels: at most %d", len(labels), jobs.MaxLabels)
				ok = false
			}
			p.Labels = labels
		}
	}
	if e, found := m.get("broadcast"); found {
		if v, bok := d.boolean(e.val, join(path, "broadcast")); bok {
			p.Broadcast = v
		} else {
			ok = false
		}
	}
	// Unknown or repeated keys are reported already.
	if ok && len(m) == len(n.Content)/2 && len(p.Labels) == 0 && !p.Broadcast {
		d.errorf(n, path, "run_on requires nothing: set labels, broadcast: true, or remove run_on")
		ok = false
	}
	if !ok {
		return nil
	}
	return p
}
