//go:build linux

package executor_test

import (
	"context"
	"testing"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

// BenchmarkCommandStarts runs a trivial job (/bin/true, sh -c true) end to
// end through Execute, four per CPU at once (RunParallel); starts/s is b.N
// over the wall time.
func BenchmarkCommandStarts(b *testing.B) {
	for _, kind := range []struct {
		name string
		job  jobs.Job
	}{
		{"command", jobs.Job{Name: "t", Command: []string{"/bin/true"}}},
		{"shell", jobs.Job{Name: "t", Shell: "true"}},
	} {
		b.Run(kind.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					j := kind.job
					if res := executor.Execute(context.Background(), &j, executor.Options{}); res.Status != jobs.StatusSucceeded {
						b.Errorf("got %+v", res)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "starts/s")
		})
	}
}
