package jobfile

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tock-sched/tock/jobs"
)

// params reads a job's params: a list of mappings with name (required),
// default and pattern. Nil when the list is empty or has errors.
func (d *decoder) params(n *yaml.Node, path string) *jobs.ParamSpec {
	if isNull(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list of parameters such as [{name: day, default: \"\", pattern: \"[0-9-]*\"}], got %s", describe(n))
		return nil
	}
	if len(n.Content) > jobs.MaxParams {
		d.errorf(n, path, "more than %d parameters", jobs.MaxParams)
		return nil
	}
	spec := &jobs.ParamSpec{List: make([]jobs.Param, 0, len(n.Content))}
	ok := true
	// Parameters become environment variables in upper case, so two names
	// that differ only in case would collide.
	seen := map[string]string{}
	for i, c := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		c = d.resolve(c)
		m, mok := d.mapping(c, p, paramKeys)
		if !mok {
			ok = false
			continue
		}
		var name, pattern string
		var def *string
		e, found := m.get("name")
		if !found {
			d.errorf(c, join(p, "name"), "missing required field")
			ok = false
			continue
		}
		nameNode := e.val
		if name, found = d.str(e.val, join(p, "name")); !found {
			ok = false
			continue
		}
		if msg := jobs.CheckParamName(name); msg != "" {
			d.errorf(e.val, join(p, "name"), "%s", msg)
			ok = false
			continue
		}
		if first, dup := seen[strings.ToUpper(name)]; dup {
			d.errorf(e.val, join(p, "name"), "parameter %q declared twice (also as %q; names are compared case-insensitively)", name, first)
			ok = false
			continue
		}
		seen[strings.ToUpper(name)] = name
		if e, found := m.get("default"); found {
			v, vok := d.str(e.val, join(p, "default"))
			if !vok {
				ok = false
				continue
			}
			def = &v
		}
		patNode := nameNode
		if e, found := m.get("pattern"); found {
			v, vok := d.str(e.val, join(p, "pattern"))
			if !vok {
				ok = false
				continue
			}
			pattern, patNode = v, e.val
		}
		param, err := jobs.NewParam(name, def, pattern)
		if err != nil {
			field, node := join(p, "pattern"), patNode
			if def != nil && strings.HasPrefix(err.Error(), "default: ") {
				field, node = join(p, "default"), m.at("default").val
			}
			d.errorf(node, field, "%s", strings.TrimPrefix(err.Error(), "default: "))
			ok = false
			continue
		}
		spec.List = append(spec.List, param)
	}
	if !ok || len(spec.List) == 0 {
		return nil
	}
	return spec
}

// paramEnv refuses env entries that a parameter's variable would set: a
// parameter must never change the job's own environment, nor the job's
// environment hide a parameter.
func (d *decoder) paramEnv(m fields, path string, j *jobs.Job, ps *jobs.ParamSpec) {
	if ps == nil || len(j.Env) == 0 {
		return
	}
	e := m.at("env")
	for _, p := range ps.List {
		if _, clash := j.Env[jobs.EnvName(p.Name)]; clash {
			d.errorf(e.val, join(join(path, "env"), jobs.EnvName(p.Name)), "set by parameter %q; rename the variable or the parameter", p.Name)
		}
	}
}
