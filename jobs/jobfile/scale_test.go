package jobfile

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scaleConfig writes a config like the benchmark's scale scenario
// (bench/tockrun.WriteConfig with the spread of scaleTock): n http jobs, job
// i firing once an hour at second i*3600/n.
func scaleConfig(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 110)
	b.WriteString("defaults:\n  timezone: UTC\n  timeout: 30s\n  concurrency: allow\n  misfire: run_all\n  catchup_window: 1h\n")
	b.WriteString("history:\n  keep: 1d\njobs:\n")
	for i := 0; i < n; i++ {
		sec := i * 3600 / n
		name := fmt.Sprintf("j%07d", i)
		fmt.Fprintf(&b, "  - name: %s\n    schedule: %q\n    http: {method: GET, url: %q}\n",
			name, fmt.Sprintf("%d %d * * * *", sec%60, sec/60), "http://127.0.0.1:40123/"+name)
	}
	return b.Bytes()
}

// procStatus returns a field of /proc/self/status in bytes (VmRSS, VmHWM),
// or 0 where there is none.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestHeapPerJob measures loading a large config: parse and validate time,
// the live heap the Config holds per job after a GC, what the parse
// allocated in all, and the peak of the process (VmHWM: the test binary
// does nothing else meanwhile when run alone). It runs only when
// TOCK_SCALE_JOBS names a job count, e.g.
//
//	TOCK_SCALE_JOBS=1000000 go test -run TestHeapPerJob -v ./jobs/jobfile
func TestHeapPerJob(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TOCK_SCALE_JOBS"))
	if n <= 0 {
		t.Skip("set TOCK_SCALE_JOBS to a job count to measure")
	}
	data := scaleConfig(n)
	runtime.GC()
	debug.FreeOSMemory()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	hwmBefore := procStatus("VmHWM")

	start, cpu := time.Now(), cpuTime()
	cfg, err := Parse("scale.yaml", data)
	took, cpu := time.Since(start), cpuTime()-cpu
	if err != nil {
		t.Fatal(err)
	}
	hwm := procStatus("VmHWM")
	runtime.ReadMemStats(&after)
	heapSys := after.HeapSys
	runtime.GC()
	runtime.ReadMemStats(&after)
	live := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	debug.FreeOSMemory()
	rss := procStatus("VmRSS")
	runtime.KeepAlive(data)
	t.Logf("%d jobs, %.1f MB of YAML: parse+validate %v (%.2f µs/job), CPU %v (GC included, on all cores)",
		n, float64(len(data))/1e6, took.Round(time.Millisecond), float64(took.Microseconds())/float64(n), cpu.Round(time.Millisecond))
	t.Logf("live heap %d B/job after GC; allocated %.0f B/job in all (%d MiB); HeapSys %d MiB",
		live/int64(n), float64(after.TotalAlloc-before.TotalAlloc)/float64(n), (after.TotalAlloc-before.TotalAlloc)>>20, heapSys>>20)
	t.Logf("process: peak RSS (VmHWM) %d MiB (%d MiB before parsing, the YAML itself %d MiB), RSS after FreeOSMemory %d MiB",
		hwm>>20, hwmBefore>>20, len(data)>>20, rss>>20)
	runtime.KeepAlive(cfg)
}
