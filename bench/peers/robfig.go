package peers

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tock-sched/tock/bench/stats"
)

// RobfigSystem names robfig/cron's own runner in the results.
const RobfigSystem = "robfig/cron v3 runner"

// Robfig measures robfig/cron v3's own runner: n entries with the same
// seconds spec firing every period on the period grid, each recording when
// its function starts. It observes ticks ticks from the first grid instant
// after the runner has started.
func Robfig(ctx context.Context, n int, period time.Duration, ticks int, body Body) (stats.Fire, error) {
	if err := checkFireArgs(n, period, ticks); err != nil {
		return stats.Fire{}, err
	}
	seen := stats.NewTicks(period)
	from, to, err := runRobfig(ctx, n, period, ticks, func(i int) func() {
		return func() {
			start := time.Now()
			body.run(i, start.Truncate(period), start, seen)
		}
	})
	if err != nil {
		return stats.Fire{}, err
	}
	f := body.ticks(seen).Result(RobfigSystem, n, from, to)
	f.Note = "in-process, no lock, no history; " + body.label()
	return f, nil
}

// Spreads RobfigScale accepts: entries are spread over one minute, hour or
// day.
var scaleSpreads = map[time.Duration]string{
	time.Minute:    "%d * * * * *",
	time.Hour:      "%d %d * * * *",
	24 * time.Hour: "%d %d %d * * *",
}

// scaleSpec returns the spec of entry i of n spread uniformly over spread:
// it fires once per spread at offset i*spread/n (whole seconds).
func scaleSpec(i, n int, spread time.Duration) (string, error) {
	format, ok := scaleSpreads[spread]
	if !ok {
		return "", fmt.Errorf("peers: spread must be 1m, 1h or 24h, got %v", spread)
	}
	off := int64(i) * int64(spread/time.Second) / int64(n)
	s, m, h := off%60, off/60%60, off/3600
	switch spread {
	case time.Minute:
		return fmt.Sprintf(format, s), nil
	case time.Hour:
		return fmt.Sprintf(format, s, m), nil
	}
	return fmt.Sprintf(format, s, m, h), nil
}

// RobfigScale measures robfig/cron v3's runner holding n entries spread
// uniformly over spread (1m, 1h or 24h): the live heap per entry, the time
// to add them all and start, and the process's CPU and the runs started per
// second over measure. It measures the whole process, so nothing else may
// run in it meanwhile.
func RobfigScale(ctx context.Context, n int, spread, measure time.Duration) (stats.Scale, error) {
	if n <= 0 {
		return stats.Scale{}, fmt.Errorf("peers: n must be positive, got %d", n)
	}
	if measure <= 0 {
		return stats.Scale{}, fmt.Errorf("peers: measure must be positive, got %v", measure)
	}
	if _, ok := scaleSpreads[spread]; !ok {
		return stats.Scale{}, fmt.Errorf("peers: spread must be 1m, 1h or 24h, got %v", spread)
	}
	var fired atomic.Int64
	run := func() { fired.Add(1) }

	heapBefore := liveHeap()
	start := time.Now()
	c := cron.New(cron.WithSeconds(), cron.WithLocation(time.UTC))
	for i := range n {
		spec, err := scaleSpec(i, n, spread)
		if err != nil {
			return stats.Scale{}, err
		}
		if _, err := c.AddFunc(spec, run); err != nil {
			return stats.Scale{}, fmt.Errorf("adding robfig/cron entry %d (%q): %w", i, spec, err)
		}
	}
	c.Start()
	c.Entries() // returns once the runner has computed every next time
	load := time.Since(start)
	heapAfter := liveHeap()

	firedBefore := fired.Load()
	cpuBefore, err := processCPU()
	if err != nil {
		<-c.Stop().Done()
		return stats.Scale{}, err
	}
	wallStart := time.Now()
	err = sleepUntil(ctx, wallStart.Add(measure))
	wall := time.Since(wallStart)
	cpuAfter, cpuErr := processCPU()
	firedDelta := fired.Load() - firedBefore
	<-c.Stop().Done()
	if err != nil {
		return stats.Scale{}, err
	}
	if cpuErr != nil {
		return stats.Scale{}, cpuErr
	}
	return stats.Scale{
		System:      RobfigSystem,
		Jobs:        n,
		CPUFraction: float64(cpuAfter-cpuBefore) / float64(wall),
		HeapPerJob:  float64(int64(heapAfter)-int64(heapBefore)) / float64(n),
		Load:        load,
		FiredPerSec: float64(firedDelta) / wall.Seconds(),
		Note:        fmt.Sprintf("spread over %v; load = add entries + Start until next times computed", spread),
	}, nil
}

// liveHeap returns the heap in use after full collections. Two, because
// the first only moves sync.Pool contents to their victim caches.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// RobfigExecSystem names robfig/cron's runner exec'ing command jobs.
const RobfigExecSystem = "robfig/cron v3 runner, exec"

// RobfigExec is Robfig with a process for a body: each entry runs argv(i)
// with os/exec and waits for it, the way a cron runner runs command jobs.
// The process stamps its own start into stampFile (bench/cmd/stamp); the
// latencies are read from there, as for tock's command jobs.
func RobfigExec(ctx context.Context, n int, period time.Duration, ticks int, argv func(i int) []string, stampFile string, index func(string) int) (stats.Fire, error) {
	if err := checkFireArgs(n, period, ticks); err != nil {
		return stats.Fire{}, err
	}
	var failed atomic.Int64
	from, to, err := runRobfig(ctx, n, period, ticks, func(i int) func() {
		a := argv(i)
		return func() {
			if exec.Command(a[0], a[1:]...).Run() != nil {
				failed.Add(1)
			}
		}
	})
	if err != nil {
		return stats.Fire{}, err
	}
	seen := stats.NewTicks(period)
	if err := stats.ReadStamps(stampFile, index, seen); err != nil {
		return stats.Fire{}, err
	}
	f := seen.Result(RobfigExecSystem, n, from, to)
	f.Note = fmt.Sprintf("in-process, no lock, no history; %d processes failed", failed.Load())
	return f, nil
}

// runRobfig runs robfig/cron v3's runner with n entries firing every period
// on the period grid, entry i running job(i), over ticks ticks from the
// first grid instant after it has started; it returns that window once the
// runner has stopped and its running entries ended.
func runRobfig(ctx context.Context, n int, period time.Duration, ticks int, job func(i int) func()) (from, to time.Time, err error) {
	spec, _ := secondsSpec(period)
	c := cron.New(cron.WithSeconds(), cron.WithLocation(time.UTC))
	for i := range n {
		if _, err := c.AddFunc(spec, job(i)); err != nil {
			return from, to, fmt.Errorf("adding robfig/cron entry %d (%q): %w", i, spec, err)
		}
	}
	c.Start()
	// Entries blocks until the runner has computed every entry's next time.
	c.Entries()
	from, to = window(time.Now(), period, ticks)
	err = sleepUntil(ctx, stopAt(to, period))
	<-c.Stop().Done() // waits for running entries
	return from, to, err
}
