package dashboard

import (
	"net/http"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/jobs"
)

// maxLinkedRuns bounds the upstream and downstream runs a run page looks
// up to show their job and status; more are listed by id only.
const maxLinkedRuns = 50

// linkedRun is an upstream or downstream run as a run page lists it.
type linkedRun struct {
	ID     int64
	Job    string
	Status jobs.RunStatus
}

// runData is the run page: the run, its attempts and its linked runs.
type runData struct {
	api.RunDetail
	Upstream   []linkedRun
	Downstream []linkedRun
}

func (d *Dashboard) linked(r *http.Request, ids []int64) []linkedRun {
	out := make([]linkedRun, len(ids))
	for i, id := range ids {
		out[i] = linkedRun{ID: id}
		if i >= maxLinkedRuns {
			continue
		}
		// A pruned run is still listed, by id.
		if rd, err := d.svc.Run(r.Context(), id); err == nil {
			out[i].Job, out[i].Status = rd.Run.Job, rd.Run.Status
		}
	}
	return out
}
