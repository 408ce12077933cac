// Package stats holds the result types every benchmark scenario fills in and
// the order statistics the report prints.
package stats

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fire is the outcome of one fire-latency scenario: N jobs due at the same
// instants, observed for a number of ticks.
type Fire struct {
	System string // "tock embedded", "robfig/cron v3 runner", ...
	N      int    // jobs due at each tick
	Ticks  int    // ticks observed
	// Latencies holds, for every (job, tick) that ran, the time from the
	// scheduled instant to the executor (job function) starting. Duplicates
	// are not in it.
	Latencies []time.Duration
	// Duplicates counts executions beyond the first of a (job, tick);
	// Missing counts (job, tick) pairs that never ran.
	Duplicates int
	Missing    int
	// Persisted says whether the system wrote run history.
	Persisted bool
	Note      string
}

// Scale is the outcome of one schedule-scale scenario.
type Scale struct {
	System      string
	Jobs        int
	CPUFraction float64       // CPU seconds per wall second while idle-scheduling
	HeapPerJob  float64       // live heap bytes per job after GC
	Load        time.Duration // time to load (parse + schedule) all jobs
	Reload      time.Duration // time to apply a reloaded config (0: not applicable)
	FiredPerSec float64       // runs started per second during the measurement
	// RSS and PeakRSS are the process's resident memory after the
	// measurement and its peak (VmHWM) until then, load included; 0 where
	// not measured (a peer in the bench's own process).
	RSS, PeakRSS float64
	// ReloadGrowth is the live heap after a reload over the live heap
	// before it (1: the reload kept nothing); 0 if not measured.
	ReloadGrowth float64
	Note         string
}

// Quantile returns the q-quantile (0..1) of ds by the nearest-rank method;
// 0 for an empty slice. ds is sorted in place.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(q*float64(len(ds))+0.999999) - 1
	i = max(0, min(i, len(ds)-1))
	return ds[i]
}

// Median of ds (sorted in place).
func Median(ds []time.Duration) time.Duration { return Quantile(ds, 0.5) }

// Max of ds.
func Max(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds)
}

// Ms formats d as milliseconds with two decimals.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// Ticks collects executions per (job, tick) and turns them into a Fire.
// It is safe for concurrent use.
type Ticks struct {
	Period time.Duration
	mu     sync.Mutex
	seen   map[tickKey]*tickSeen
}

type tickKey struct {
	job  int
	tick int64
}

type tickSeen struct {
	count int
	first time.Duration // latency of the first execution
}

// NewTicks counts executions of jobs that fire every period on the period's
// grid (tick instants are multiples of period since the Unix epoch).
func NewTicks(period time.Duration) *Ticks {
	return &Ticks{Period: period, seen: map[tickKey]*tickSeen{}}
}

// Observe records job starting at start; the scheduled instant is start
// truncated to the period grid (the latency must stay under one period).
func (t *Ticks) Observe(job int, start time.Time) {
	t.ObserveAt(job, start.Truncate(t.Period), start)
}

// ObserveAt records job starting at start for the scheduled instant tick.
func (t *Ticks) ObserveAt(job int, tick, start time.Time) {
	k := tickKey{job, tick.UnixNano()}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.seen[k]
	if s == nil {
		s = &tickSeen{first: start.Sub(tick)}
		t.seen[k] = s
	}
	s.count++
}

// Result counts, for the ticks in [from, to) and jobs 0..n-1, the latencies
// of first executions, the duplicates and the missing runs.
func (t *Ticks) Result(system string, n int, from, to time.Time) Fire {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := Fire{System: system, N: n}
	first := from.Truncate(t.Period)
	if first.Before(from) {
		first = first.Add(t.Period)
	}
	for tick := first; tick.Before(to); tick = tick.Add(t.Period) {
		f.Ticks++
		for j := 0; j < n; j++ {
			s := t.seen[tickKey{j, tick.UnixNano()}]
			switch {
			case s == nil:
				f.Missing++
			default:
				f.Latencies = append(f.Latencies, s.first)
				f.Duplicates += s.count - 1
			}
		}
	}
	return f
}

// ReadStamps feeds t the stamps in path, lines "NAME UNIXNANO" the stamp
// program wrote; index maps a NAME to its job number (-1: not a job).
// Each start counts for the grid instant it follows (Ticks.Observe).
func ReadStamps(path string, index func(string) int, t *Ticks) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for n, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		name, ns, ok := strings.Cut(line, " ")
		at, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("%s:%d: %q is not NAME UNIXNANO", path, n+1, line)
		}
		if i := index(name); i >= 0 {
			t.Observe(i, time.Unix(0, at))
		}
	}
	return nil
}
