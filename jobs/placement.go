package jobs

import (
	"fmt"
	"sort"
	"strings"
)

// Limits on labels.
const (
	// MaxLabelLen bounds a label's key and its value.
	MaxLabelLen = 63
	// MaxLabels bounds how many labels a replica carries or a job requires.
	MaxLabels = 32
)

// Labels are a replica's labels (`tock run --labels zone=a,gpu=true`) or
// the labels a job requires (run_on.labels). Keys and values pass
// CheckLabel.
type Labels map[string]string

// Placement is a job's run_on block: where its runs may run. A job
// without one runs anywhere, once per tick.
type Placement struct {
	// Labels must all be carried, with these values, by a replica that
	// claims one of the job's runs.
	Labels Labels `json:"labels,omitempty"`
	// Broadcast runs one attempt per tick on every live replica that
	// matches Labels, each its own run (shard) in history.
	Broadcast bool `json:"broadcast,omitempty"`
}

// CheckLabel reports why key=value is not a valid label, or nil. A key is
// 1 to MaxLabelLen characters of letters, digits, '_', '.', '-' and '/',
// starting with a letter or digit; a value is 1 to MaxLabelLen letters,
// digits, '_', '.' and '-'. So neither holds ',' or '=', and a set of
// labels has one text form (Labels.String).
func CheckLabel(key, value string) error {
	if key == "" {
		return fmt.Errorf("empty label key")
	}
	if len(key) > MaxLabelLen {
		return fmt.Errorf("label key %q longer than %d characters", key, MaxLabelLen)
	}
	if !alnum(key[0]) {
		return fmt.Errorf("label key %q must start with a letter or digit", key)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; !alnum(c) && strings.IndexByte("_.-/", c) < 0 {
			return fmt.Errorf("label key %q: invalid character %q (use letters, digits, '_', '.', '-', '/')", key, c)
		}
	}
	if value == "" {
		return fmt.Errorf("label %q has an empty value", key)
	}
	if len(value) > MaxLabelLen {
		return fmt.Errorf("label %q: value longer than %d characters", key, MaxLabelLen)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; !alnum(c) && strings.IndexByte("_.-", c) < 0 {
			return fmt.Errorf("label %q: value %q has an invalid character %q (use letters, digits, '_', '.', '-')", key, value, c)
		}
	}
	return nil
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ParseLabels reads labels in their text form, "k=v,k2=v2" (spaces
// around items are ignored); "" is no labels. A key given twice, an item
// without '=' and anything CheckLabel refuses is an error.
func ParseLabels(s string) (Labels, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := Labels{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("label %q: want key=value", item)
		}
		if err := CheckLabel(k, v); err != nil {
			return nil, err
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("label %q given twice", k)
		}
		out[k] = v
	}
	if len(out) > MaxLabels {
		return nil, fmt.Errorf("%d labels: at most %d", len(out), MaxLabels)
	}
	return out, nil
}

// String is the labels' text form: "k=v" items sorted by key, joined by
// ','; "" for none. ParseLabels reads it back.
func (l Labels) String() string {
	if len(l) == 0 {
		return ""
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
	}
	return b.String()
}

// Includes reports whether l carries every label of want with its value.
func (l Labels) Includes(want Labels) bool {
	for k, v := range want {
		if got, ok := l[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// MatchesText is Includes for required labels in their text form (as a
// run row stores them); a malformed text matches nothing.
func (l Labels) MatchesText(want string) bool {
	if want == "" {
		return true
	}
	w, err := ParseLabels(want)
	if err != nil {
		return false
	}
	return l.Includes(w)
}

// RunsOn reports whether a replica carrying labels may run j's runs.
func (j *Job) RunsOn(labels Labels) bool {
	p := j.placement()
	return p == nil || labels.Includes(p.Labels)
}

// Broadcast reports whether j runs one shard per matching replica.
func (j *Job) Broadcast() bool { p := j.placement(); return p != nil && p.Broadcast }

// RequiredLabels is the text form of the labels j's runs require; "" for
// none.
func (j *Job) RequiredLabels() string {
	p := j.placement()
	if p == nil {
		return ""
	}
	return p.Labels.String()
}

// Doorbell routes. A queued run's doorbell goes to the queue of its route
// (storage.QueueItem.Route): the general queue ("") for a run any replica
// may claim, a labels route for a run that requires labels, a node route
// for a broadcast shard pinned to one replica. A worker pops the general
// queue and the routes it can serve (worker.Routes), so a replica that may
// not run a run never takes its doorbell.

// LabelsRoute is the route of runs that require labels (text form); "" for
// none.
func LabelsRoute(required string) string {
	if required == "" {
		return ""
	}
	return "labels:" + required
}

// NodeRoute is the route of shards pinned to node.
func NodeRoute(node string) string { return "node:" + node }

// Route is the route of r's doorbell: its pinned node's while pinned, else
// its required labels', else the general queue's.
func (r Run) Route() string {
	if r.PinnedNode != "" {
		return NodeRoute(r.PinnedNode)
	}
	return LabelsRoute(r.RunOnLabels)
}
