package replica

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// liveHeap is the heap left after two collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Reloading a config does not keep the one it replaced: the live heap
// after each of several reloads of a 20,000-job config stays where it was
// before the first. Not parallel: it measures this process's heap.
func TestReloadsKeepHeapFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 20,000-job schedule several times")
	}
	const jobsN, reloads = 20000, 5
	dir := t.TempDir()
	path := filepath.Join(dir, "tock.yaml")
	var b strings.Builder
	b.WriteString("defaults: {timezone: UTC}\njobs:\n")
	for i := range jobsN {
		// Once a day at an instant spread over the day: nothing fires
		// during the test, but every job is in the schedule.
		fmt.Fprintf(&b, "  - name: j%05d\n    schedule: \"%d %d %d * * *\"\n    http: {url: \"http://127.0.0.1:1/\"}\n", i, i%60, i/60%60, (i/3600+12)%24)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runReplica(t, path, "heap")
	waitLoads := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for r.ScheduleLoads() < n {
			if time.Now().After(deadline) {
				t.Fatalf("the schedule was built %d times in a minute, want %d", r.ScheduleLoads(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLoads(1)
	heaps := []uint64{liveHeap()}
	// A config kept alive would add its whole size (the parsed jobs are
	// most of the heap); allow a tenth of the heap for noise.
	bound := heaps[0] + heaps[0]/10
	// settled is the live heap once it is within bound, or after two
	// seconds: work that the reload started and that still holds the
	// replaced config for a moment (the standby's rebuild beside the
	// term's) ends, a config kept for good does not.
	settled := func() uint64 {
		h := liveHeap()
		for deadline := time.Now().Add(2 * time.Second); h > bound && time.Now().Before(deadline); h = liveHeap() {
			time.Sleep(100 * time.Millisecond)
		}
		return h
	}
	for i := range reloads {
		// Other bytes (a comment), so that the reload is not skipped as
		// unchanged; the file watcher reloads it.
		if err := os.WriteFile(path, []byte(b.String()+fmt.Sprintf("# reload %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		waitLoads(int64(i + 2))
		// Let the watcher's later events of the same write pass (they
		// find the file unchanged) before measuring.
		time.Sleep(3 * reloadDebounce)
		heaps = append(heaps, settled())
	}
	t.Logf("live heap before and after each of %d reloads of %d jobs (MiB): %v", reloads, jobsN, mib(heaps))
	for i, h := range heaps[1:] {
		if h > bound {
			t.Fatalf("live heap %.1f MiB after reload %d, %.1f MiB before any", float64(h)/(1<<20), i+1, float64(heaps[0])/(1<<20))
		}
	}
}

func mib(bs []uint64) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = fmt.Sprintf("%.1f", float64(b)/(1<<20))
	}
	return out
}
