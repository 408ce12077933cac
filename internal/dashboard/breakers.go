package dashboard

import (
	"sort"

	"github.com/tock-sched/tock/internal/api"
)

// clusterData is the Cluster page: the cluster as the API reports it, and
// this replica's http circuit breakers.
type clusterData struct {
	api.Cluster
	// ShowBreakers is false on a replica without a worker pool.
	ShowBreakers bool
	Breakers     []breakerRow
}

// breakerRow is one http target's circuit breaker.
type breakerRow struct {
	Target string
	State  string
}

// Class is the badge style of the state.
func (b breakerRow) Class() string {
	switch b.State {
	case "closed":
		return "st-succeeded"
	case "open":
		return "st-failed"
	}
	return "st-canceled"
}

// breakerRows returns the breaker states from src sorted by target; shown
// is false when src is nil.
func breakerRows(src func() map[string]string) (rows []breakerRow, shown bool) {
	if src == nil {
		return nil, false
	}
	for target, state := range src() {
		rows = append(rows, breakerRow{Target: target, State: state})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Target < rows[j].Target })
	return rows, true
}
