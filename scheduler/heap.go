package scheduler

import (
	"container/heap"
	"time"

	"github.com/tock-sched/tock/jobs"
)

// entry is one job's place in the fire-time heap.
type entry struct {
	job  *jobs.Job
	next time.Time
	// at is when the tick at next is dispatched (Unix ns): next less the
	// job's lead (the lookahead, for jobs that may overlap).
	at    int64
	index int
}

// fireHeap orders entries by dispatch time; ties by job name so that the
// order of a batch is deterministic.
type fireHeap []*entry

func (h fireHeap) Len() int { return len(h) }
func (h fireHeap) Less(i, j int) bool {
	if h[i].at == h[j].at {
		return h[i].job.Name < h[j].job.Name
	}
	return h[i].at < h[j].at
}
func (h fireHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *fireHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *fireHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*h = old[:n-1]
	return e
}

// schedule is the heap plus an index by job name, for reloads.
type schedule struct {
	h      fireHeap
	byName map[string]*entry
	// lead is how long before a job's tick it is dispatched.
	lead func(*jobs.Job) time.Duration
}

func newSchedule(lead func(*jobs.Job) time.Duration) *schedule {
	return &schedule{byName: map[string]*entry{}, lead: lead}
}

// dispatchAt is the time the entry's tick is due for dispatch.
func (e *entry) dispatchAt() time.Time { return time.Unix(0, e.at) }

func (s *schedule) len() int { return len(s.h) }

// peek returns the earliest entry, or nil.
func (s *schedule) peek() *entry {
	if len(s.h) == 0 {
		return nil
	}
	return s.h[0]
}

// set inserts or moves a job's entry; a zero next removes it (the schedule
// never fires again).
func (s *schedule) set(j *jobs.Job, next time.Time) {
	e, ok := s.byName[j.Name]
	if next.IsZero() {
		if ok {
			heap.Remove(&s.h, e.index)
			delete(s.byName, j.Name)
		}
		return
	}
	at := next.Add(-s.lead(j)).UnixNano()
	if ok {
		e.job, e.next, e.at = j, next, at
		heap.Fix(&s.h, e.index)
		return
	}
	e = &entry{job: j, next: next, at: at}
	heap.Push(&s.h, e)
	s.byName[j.Name] = e
}

// remove drops a job.
func (s *schedule) remove(name string) {
	if e, ok := s.byName[name]; ok {
		heap.Remove(&s.h, e.index)
		delete(s.byName, name)
	}
}
