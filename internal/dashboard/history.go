package dashboard

import (
	"html/template"
	"net/http"

	"github.com/tock-sched/tock/internal/api"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// jobsData is the jobs list: the jobs and the status strips of the first
// MaxStripJobs of them.
type jobsData struct {
	Jobs   []api.Job
	Strips map[string]template.HTML
	// Capped is true when the list has more jobs than get a strip.
	Capped    bool
	StripRuns int
	MaxStrips int
}

// strips draws the strip of the newest StripRuns runs of each of the first
// MaxStripJobs jobs: one bounded, indexed query per job. A job whose query
// fails shows no strip; the page still renders.
func (d *Dashboard) strips(r *http.Request, js []api.Job) jobsData {
	data := jobsData{Jobs: js, Strips: map[string]template.HTML{}, Capped: len(js) > MaxStripJobs, StripRuns: StripRuns, MaxStrips: MaxStripJobs}
	for i, j := range js {
		if i >= MaxStripJobs || r.Context().Err() != nil {
			break
		}
		p, err := d.svc.Runs(r.Context(), storage.RunFilter{Job: j.Name, Limit: StripRuns})
		if err != nil || len(p.Runs) == 0 {
			continue
		}
		data.Strips[j.Name] = statusStrip(j.Name, p.Runs, 7, 16)
	}
	return data
}

// jobHistory reads the newest HistoryRuns runs of a job (one query) and
// draws them.
func (d *Dashboard) jobHistory(r *http.Request, job string) (history, error) {
	p, err := d.svc.Runs(r.Context(), storage.RunFilter{Job: job, Limit: HistoryRuns})
	if err != nil {
		return history{}, err
	}
	return newHistory(job, p.Runs), nil
}

// Legend lists the statuses the strip's key shows, in lifecycle order.
func (jobData) Legend() []jobs.RunStatus { return jobs.AllStatuses }
