package jobfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tock-sched/tock/jobs"
)

// maxErrors stops a hopeless file from producing unbounded output.
const maxErrors = 1000

// decoder walks a yaml.Node tree and collects every problem it finds.
type decoder struct {
	file  string
	errs  []FieldError
	nodes int
	// budget is the most nodes resolve visits (nodeBudgetBase + file size).
	budget int
	// stop is set when the error or node budget is spent.
	stop  bool
	zones map[string]*time.Location
	// scheds and strs share what many jobs repeat: parsed schedules and
	// short strings such as zone names.
	scheds jobs.ScheduleCache
	strs   map[string]string
	// deps are the jobs with an after list, for checkDeps.
	deps []depRef
	// shared holds one value per distinct job settings seen (jobs share
	// them: a Settings is read-only once a job points at it).
	shared map[jobs.Settings]*jobs.Settings
}

// settings returns a shared value equal to st.
func (d *decoder) settings(st jobs.Settings) *jobs.Settings {
	if p, ok := d.shared[st]; ok {
		return p
	}
	if d.shared == nil {
		d.shared = map[jobs.Settings]*jobs.Settings{}
	}
	p := &st
	d.shared[st] = p
	return p
}

// intern returns s, or an equal string returned before.
func (d *decoder) intern(s string) string {
	if v, ok := d.strs[s]; ok {
		return v
	}
	if d.strs == nil {
		d.strs = map[string]string{}
	}
	d.strs[s] = s
	return s
}

// reset forgets what an abandoned pass found.
func (d *decoder) reset() {
	d.errs, d.nodes, d.stop, d.deps = nil, 0, false, nil
}

// entry is one key/value pair of a mapping.
type entry struct {
	key, val *yaml.Node
}

// fields are the entries of a mapping by key, at most one per key. A
// mapping has a few keys, so a list is searched: a map per job cost more
// than the job itself.
type fields []namedEntry

type namedEntry struct {
	name string
	entry
}

// get returns the entry of key.
func (f fields) get(key string) (entry, bool) {
	for i := range f {
		if f[i].name == key {
			return f[i].entry, true
		}
	}
	return entry{}, false
}

// at returns the entry of key, or a zero entry.
func (f fields) at(key string) entry {
	e, _ := f.get(key)
	return e
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	if d.stop {
		return
	}
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, FieldError{File: d.file, Line: line, Column: col, Field: field,
			Msg: fmt.Sprintf("too many errors (more than %d); stopping", maxErrors)})
		d.stop = true
		return
	}
	d.errs = append(d.errs, FieldError{File: d.file, Line: line, Column: col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// resolve follows aliases and charges the node against the work budget.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes++
	if d.nodes > d.budget && !d.stop {
		d.errorf(n, "", "document too large (more than %d nodes with aliases expanded)", d.budget)
		d.stop = true
	}
	return n
}

// document parses the YAML text and returns its root node, or nil after
// reporting why there is none.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs = append(d.errs, FieldError{File: d.file, Msg: "empty config file: no jobs defined"})
			return nil
		}
		d.syntaxError(data, err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		d.errorf(&extra, "", "more than one YAML document; a config file holds exactly one")
		return nil
	case !errors.Is(err, io.EOF):
		d.syntaxError(data, err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		d.errorf(&doc, "", "no jobs defined")
		return nil
	}
	return d.resolve(doc.Content[0])
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a node's type for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		case "!!int":
			return "integer " + n.Value
		case "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	}
	return "an unsupported node"
}

// mapping checks that n is a mapping with string keys drawn from allowed and
// returns its entries; unknown and repeated keys are reported.
func (d *decoder) mapping(n *yaml.Node, path string, allowed []string) (fields, bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping with keys %s, got %s", strings.Join(allowed, ", "), describe(n))
		return nil, false
	}
	out := make(fields, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content) && !d.stop; i += 2 {
		k, v := d.resolve(n.Content[i]), d.resolve(n.Content[i+1])
		key, ok := d.key(k, path)
		if !ok {
			continue
		}
		if !contains(allowed, key) {
			d.errorf(k, join(path, key), "unknown field%s (want one of %s)", suggest(key, allowed), strings.Join(allowed, ", "))
			continue
		}
		if prev, dup := out.get(key); dup {
			d.errorf(k, join(path, key), "set twice (first at line %d)", prev.key.Line)
			continue
		}
		out = append(out, namedEntry{key, entry{key: k, val: v}})
	}
	return out, true
}

// key checks that k is a usable mapping key.
func (d *decoder) key(k *yaml.Node, path string) (string, bool) {
	if k.Kind != yaml.ScalarNode || isNull(k) {
		d.errorf(k, path, "expected a field name, got %s", describe(k))
		return "", false
	}
	if k.ShortTag() == "!!merge" {
		d.errorf(k, path, "merge keys (<<) are not supported; use the defaults block")
		return "", false
	}
	return k.Value, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a scalar as text; numbers and booleans keep their source text.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected a string, got %s", describe(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
	default:
		d.errorf(n, path, "expected a string, got %s", describe(n))
		return "", false
	}
	if strings.IndexByte(n.Value, 0) >= 0 {
		d.errorf(n, path, "must not contain NUL bytes")
		return "", false
	}
	return n.Value, true
}

// nonNegInt reads a non-negative integer no larger than max.
func (d *decoder) nonNegInt(n *yaml.Node, path string, max int) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(n, path, "expected an integer, got %s", describe(n))
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil {
		d.errorf(n, path, "integer %s is out of range", n.Value)
		return 0, false
	}
	if v < 0 {
		d.errorf(n, path, "must not be negative, got %d", v)
		return 0, false
	}
	if v > int64(max) {
		d.errorf(n, path, "must be at most %d, got %d", max, v)
		return 0, false
	}
	return int(v), true
}

// duration reads a non-negative duration; positive insists on > 0.
func (d *decoder) duration(n *yaml.Node, path string, positive bool) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected a duration like 90s, 15m or 1d12h, got %s", describe(n))
		return 0, false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float":
	default:
		d.errorf(n, path, "expected a duration like 90s, 15m or 1d12h, got %s", describe(n))
		return 0, false
	}
	v, err := jobs.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "jobs: "))
		return 0, false
	}
	if v < 0 {
		d.errorf(n, path, "must not be negative, got %s", n.Value)
		return 0, false
	}
	if positive && v == 0 {
		d.errorf(n, path, "must be positive")
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.errorf(n, path, "expected true or false, got %s", describe(n))
		return false, false
	}
	var v bool
	if err := n.Decode(&v); err != nil {
		d.errorf(n, path, "expected true or false, got %s", describe(n))
		return false, false
	}
	return v, true
}

// strMap reads a mapping of strings; null is an empty map.
func (d *decoder) strMap(n *yaml.Node, path string) (map[string]string, bool) {
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of strings, got %s", describe(n))
		return nil, false
	}
	out := make(map[string]string, len(n.Content)/2)
	lines := make(map[string]int, len(n.Content)/2)
	ok := true
	for i := 0; i+1 < len(n.Content) && !d.stop; i += 2 {
		k, v := d.resolve(n.Content[i]), d.resolve(n.Content[i+1])
		key, kok := d.key(k, path)
		if kok {
			key, kok = d.str(k, path)
		}
		if !kok {
			ok = false
			continue
		}
		if first, dup := lines[key]; dup {
			d.errorf(k, join(path, key), "set twice (first at line %d)", first)
			ok = false
			continue
		}
		lines[key] = k.Line
		val, vok := d.str(v, join(path, key))
		if !vok {
			ok = false
			continue
		}
		out[key] = val
	}
	return out, ok
}
