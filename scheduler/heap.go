package scheduler

import (
	"container/heap"
	"time"

	"github.com/tock-sched/tock/jobs"
)

// entry is one job's place in the fire-time heap.
type entry struct {
	job *jobs.Job
	// next is the tick (Unix ns, UTC): an int64 rather than a time.Time
	// keeps an entry in 32 bytes, a million of them in 32 MB.
	next int64
	// at is when the tick at next is dispatched (Unix ns): next less the
	// job's lead (the lookahead, for jobs that may overlap).
	at int64
	// index is the entry's place in the heap.
	index int32
}

// tick is the time of the entry's next tick.
func (e *entry) tick() time.Time { return time.Unix(0, e.next).UTC() }

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
	h[i].index = int32(i)
	h[j].index = int32(j)
}
func (h *fireHeap) Push(x any) {
	e := x.(*entry)
	e.index = int32(len(*h))
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

// schedule is the heap plus, per job of its config, the job's entry: jobs
// are found through the config's name index (a slice of pointers, not a
// map of its own: about 40 bytes a job less at a million jobs).
type schedule struct {
	h   fireHeap
	cfg *jobs.Config
	// pos holds the entry of cfg.Jobs[i] at i, nil while it has none.
	pos []*entry
	// lead is how long before a job's tick it is dispatched.
	lead func(*jobs.Job) time.Duration
}

// newSchedule returns an empty schedule; rekey gives it its config.
func newSchedule(lead func(*jobs.Job) time.Duration) *schedule {
	return &schedule{lead: lead, cfg: &jobs.Config{}}
}

// rekey moves the schedule to cfg: the entries of jobs cfg has (by name)
// stay in place, still pointing at the old definitions until set; the
// others are removed.
func (s *schedule) rekey(cfg *jobs.Config) {
	pos := make([]*entry, len(cfg.Jobs))
	var gone []*entry
	for _, e := range s.h {
		if i := cfg.Index(e.job.Name); i >= 0 && pos[i] == nil {
			pos[i] = e
		} else {
			gone = append(gone, e)
		}
	}
	for _, e := range gone {
		heap.Remove(&s.h, int(e.index))
	}
	s.cfg, s.pos = cfg, pos
}

// entryOf returns the entry of cfg.Jobs[i], nil if it has none.
func (s *schedule) entryOf(i int) *entry { return s.pos[i] }

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
// set inserts or moves the entry of j, a job of the schedule's config; a
// zero next removes it (the schedule never fires again).
func (s *schedule) set(j *jobs.Job, next time.Time) {
	if i := s.cfg.Index(j.Name); i >= 0 {
		s.setAt(i, j, next)
	}
}

// setAt is set for the job at position i of the config, known to the
// caller: a load walking the config saves a name lookup per job.
func (s *schedule) setAt(i int, j *jobs.Job, next time.Time) {
	e := s.pos[i]
	if next.IsZero() {
		if e != nil {
			heap.Remove(&s.h, int(e.index))
			s.pos[i] = nil
		}
		return
	}
	at := next.Add(-s.lead(j)).UnixNano()
	if e != nil {
		e.job, e.next, e.at = j, next.UnixNano(), at
		heap.Fix(&s.h, int(e.index))
		return
	}
	e = &entry{job: j, next: next.UnixNano(), at: at}
	heap.Push(&s.h, e)
	s.pos[i] = e
}
