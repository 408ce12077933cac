package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/faultproxy"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
	"github.com/tock-sched/tock/storage/redis/redistest"
)

// Sizes of BenchmarkLiveOutputStoreCost.
const (
	liveBenchJobs   = 100
	liveBenchWarmUp = 20 * time.Second // past the output cap: steady state
	liveBenchWindow = 20 * time.Second
)

// BenchmarkLiveOutputStoreCost measures what live output costs the store:
// 100 jobs printing a line every 10 ms run on one replica (MariaDB +
// Redis) whose store connection goes through a counting TCP proxy, with
// --output-flush 1s and with it off. After a warm-up that takes every
// attempt's output past the 64 KiB cap, it reports, per running job and
// second: live output writes (statements, from the replica's metrics),
// the bytes of output they carried, and every byte tock sent to MariaDB.
//
//	go test -run '^$' -bench LiveOutputStoreCost -benchtime 1x ./internal/e2e
func BenchmarkLiveOutputStoreCost(b *testing.B) {
	for _, flush := range []string{"1s", "0"} {
		b.Run("flush="+flush, func(b *testing.B) {
			for range b.N {
				liveOutputCost(b, flush)
			}
		})
	}
}

func liveOutputCost(b *testing.B, flush string) {
	bin := tockBinary(b)
	dir := b.TempDir()
	redisURL, prefix := redistest.New(b)
	storeURL, err := url.Parse(mysqltest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	proxy, err := faultproxy.New(storeURL.Host)
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	storeURL.Host = proxy.Addr()
	var cfg strings.Builder
	cfg.WriteString("jobs:\n")
	for i := range liveBenchJobs {
		fmt.Fprintf(&cfg, "  - name: chat-%03d\n    schedule: \"0 0 0 1 1 *\"\n    timeout: 10m\n"+
			"    shell: 'i=0; while :; do i=$((i+1)); echo \"chat-%03d line $i: a job printing a line every 10 ms\"; sleep 0.01; done'\n", i, i)
	}
	config := filepath.Join(dir, "tock.yaml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	c, err := NewCluster(context.Background(), Options{Binary: bin, Dir: dir, Config: config, StoreURL: storeURL.String(),
		RedisURL: redisURL, Cluster: prefix, Replicas: 1, Workers: liveBenchJobs + 10, HTTP: true, LogLevel: "info",
		Args: []string{"--output-flush", flush, "--attempt-lease", "30s"}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.StartAll(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, _, err := c.WaitLeader(ctx, pollEvery, func(n string, _ int64) bool { return n != "" }); err != nil {
		b.Fatal(err)
	}
	api := "http://" + c.Replica(0).HTTPAddr()
	for i := range liveBenchJobs {
		resp, err := http.Post(fmt.Sprintf("%s/api/v1/jobs/chat-%03d/trigger", api, i), "application/json", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	if err := Poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		runs, err := c.Store().ListRuns(ctx, storage.RunFilter{Status: jobs.StatusRunning, Limit: 1000})
		return len(runs) == liveBenchJobs, err
	}); err != nil {
		b.Fatalf("%d jobs not all running: %v", liveBenchJobs, err)
	}
	time.Sleep(liveBenchWarmUp)
	type sample struct {
		at            time.Time
		up            int64
		writes, beats float64
		outBytes      float64
		printed       int64
	}
	take := func() sample {
		s := sample{at: time.Now(), up: proxy.Stats().BytesUp}
		m := scrape(b, api+"/metrics")
		s.writes, s.beats, s.outBytes = m[`tock_live_output_writes_total{via="flush"}`], m[`tock_live_output_writes_total{via="heartbeat"}`], m["tock_live_output_bytes_total"]
		s.printed = printedBytes(ctx, b, c.Store())
		return s
	}
	s0 := take()
	time.Sleep(liveBenchWindow)
	s1 := take()
	per := float64(liveBenchJobs) * s1.at.Sub(s0.at).Seconds()
	writes := (s1.writes - s0.writes + s1.beats - s0.beats) / per
	carried := (s1.beats - s0.beats) / per
	outBytes := (s1.outBytes - s0.outBytes) / per
	up := float64(s1.up-s0.up) / per
	printed := float64(s1.printed-s0.printed) / per
	b.ReportMetric(writes, "writes/job/s")
	b.ReportMetric(outBytes, "output-B/job/s")
	b.ReportMetric(up, "store-B/job/s")
	b.Logf("--output-flush %s, %d jobs printing (%.0f B/s each as flushed, 0 when off), %s window: "+
		"live output writes %.2f/job/s (%.2f of them with a heartbeat), %.0f B of output/job/s, "+
		"all bytes tock sent to MariaDB %.0f B/job/s (%.2f MB/s for the %d jobs)",
		flush, liveBenchJobs, printed, liveBenchWindow, writes, carried, outBytes, up, up*liveBenchJobs/1e6, liveBenchJobs)
}

// scrape reads the counters of a Prometheus text page by series.
func scrape(b testing.TB, u string) map[string]float64 {
	resp, err := http.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// printedBytes is the bytes the running attempts wrote, as their live
// output says (0 with live output off).
func printedBytes(ctx context.Context, b testing.TB, st storage.Store) int64 {
	runs, err := st.ListRuns(ctx, storage.RunFilter{Status: jobs.StatusRunning, Limit: 1000})
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, r := range runs {
		_, atts, err := st.GetRun(ctx, r.ID)
		if err != nil {
			b.Fatal(err)
		}
		if len(atts) > 0 {
			a := atts[len(atts)-1]
			n += jobs.OutputBytes(a.Output, a.OutputDropped)
		}
	}
	return n
}
