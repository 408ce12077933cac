package jobs

import "strings"

// DiffNamesMax bounds the job names a ConfigDiff lists per kind; the counts
// are always complete.
const DiffNamesMax = 20

// ConfigDiff is what changed between two configs, by job name: jobs added,
// removed, and changed (same name, different digest). The name lists hold
// at most DiffNamesMax names each, in name order; the counts cover all.
type ConfigDiff struct {
	Added        int      `json:"added"`
	Removed      int      `json:"removed"`
	Changed      int      `json:"changed"`
	AddedNames   []string `json:"added_names,omitempty"`
	RemovedNames []string `json:"removed_names,omitempty"`
	ChangedNames []string `json:"changed_names,omitempty"`
}

// Empty tells whether no job was added, removed or changed.
func (d ConfigDiff) Empty() bool { return d.Added == 0 && d.Removed == 0 && d.Changed == 0 }

// Diff returns what changed from old to c. Both must be sealed; a nil old
// counts every job of c as added. It walks both name indexes in step, so a
// million-job reload costs no map.
func (c *Config) Diff(old *Config) ConfigDiff {
	var d ConfigDiff
	var oldIdx []int32
	var oldJobs []*Job
	if old != nil {
		oldIdx, oldJobs = old.byName, old.Jobs
	}
	i, k := 0, 0
	for i < len(oldIdx) || k < len(c.byName) {
		var cmp int
		switch {
		case i == len(oldIdx):
			cmp = 1
		case k == len(c.byName):
			cmp = -1
		default:
			cmp = strings.Compare(oldJobs[oldIdx[i]].Name, c.Jobs[c.byName[k]].Name)
		}
		switch {
		case cmp < 0:
			d.Removed++
			d.RemovedNames = appendName(d.RemovedNames, oldJobs[oldIdx[i]].Name)
			i++
		case cmp > 0:
			d.Added++
			d.AddedNames = appendName(d.AddedNames, c.Jobs[c.byName[k]].Name)
			k++
		default:
			if a, b := oldJobs[oldIdx[i]], c.Jobs[c.byName[k]]; a.Digest != b.Digest {
				d.Changed++
				d.ChangedNames = appendName(d.ChangedNames, b.Name)
			}
			i++
			k++
		}
	}
	return d
}

func appendName(names []string, name string) []string {
	if len(names) < DiffNamesMax {
		names = append(names, name)
	}
	return names
}
