package executor_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
)

// TestSnapshotFollowsOutput: snapshots taken while a buffer fills, read
// with jobs.OutputSince from the offset the previous read returned, give
// the output exactly when nothing is dropped, and otherwise begin with its
// head and end with its tail, with every dropped byte counted once.
func TestSnapshotFollowsOutput(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 7, 64, 1000} {
		for seed := uint64(1); seed <= 30; seed++ {
			rng := rand.New(rand.NewPCG(seed, uint64(limit)))
			b := executor.NewCappedBuffer(limit)
			var all strings.Builder
			var seen strings.Builder
			var from int64
			for range rng.IntN(40) {
				chunk := strings.Repeat(string("aé€😀\n"[rng.IntN(4)]), rng.IntN(30))
				_, _ = b.Write([]byte(chunk))
				all.WriteString(chunk)
				if rng.IntN(3) == 0 {
					out, dropped, total := b.Snapshot()
					if got := jobs.OutputBytes(out, dropped); got != total {
						t.Fatalf("limit %d seed %d: OutputBytes of a snapshot = %d, Len = %d", limit, seed, got, total)
					}
					text, next := jobs.OutputSince(out, dropped, from, false)
					seen.WriteString(text)
					from = next
				}
			}
			final, dropped := b.String(), b.Dropped()
			text, next := jobs.OutputSince(final, dropped, from, true)
			seen.WriteString(text)
			if next != int64(all.Len()) {
				t.Fatalf("limit %d seed %d: next = %d after %d bytes", limit, seed, next, all.Len())
			}
			if dropped == 0 {
				if seen.String() != final {
					t.Fatalf("limit %d seed %d: followed %q, final %q", limit, seed, seen.String(), final)
				}
				continue
			}
			m := jobs.DroppedMarker(dropped)
			i := strings.LastIndex(final, m)
			head, tail := final[:i], final[i+len(m):]
			if !strings.HasPrefix(seen.String(), head) || !strings.HasSuffix(seen.String(), tail) {
				t.Fatalf("limit %d seed %d: followed %q, final %q", limit, seed, seen.String(), final)
			}
		}
	}
}

func TestOutputSince(t *testing.T) {
	t.Parallel()
	cut := "abc" + jobs.DroppedMarker(5) + "xyz" // 11 bytes written
	tests := []struct {
		name    string
		output  string
		dropped int64
		from    int64
		final   bool
		text    string
		next    int64
	}{
		{"from the start", "hello\n", 0, 0, false, "hello\n", 6},
		{"new bytes only", "hello\nworld\n", 0, 6, false, "world\n", 12},
		{"nothing new", "hello\n", 0, 6, false, "", 6},
		{"partial rune held back", "a€"[:3], 0, 0, false, "a", 1},
		{"partial rune given at the end", "a€"[:3], 0, 0, true, "a€"[:3], 3},
		{"in the tail", cut, 5, 9, false, "yz", 11},
		{"in the cut", cut, 5, 4, false, jobs.DroppedMarker(4) + "xyz", 11},
		{"in the head", cut, 5, 1, false, "bc" + jobs.DroppedMarker(5) + "xyz", 11},
		{"past the end", "ab", 0, 9, false, "", 9},
	}
	for _, tt := range tests {
		text, next := jobs.OutputSince(tt.output, tt.dropped, tt.from, tt.final)
		if text != tt.text || next != tt.next {
			t.Errorf("%s: OutputSince = %q, %d; want %q, %d", tt.name, text, next, tt.text, tt.next)
		}
	}
}

// TestExecuteWritesGivenBuffer: a job's output reaches Options.Output while
// it runs, and the result is rendered from it.
func TestExecuteWritesGivenBuffer(t *testing.T) {
	t.Parallel()
	buf := executor.NewCappedBuffer(1 << 10)
	// The job prints its second line once the test saw the first.
	gate := filepath.Join(t.TempDir(), "gate")
	j := jobs.Job{Name: "live", Shell: "echo first; while [ ! -e " + gate + " ]; do sleep 0.01; done; echo second"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan executor.Result, 1)
	go func() { done <- executor.Execute(ctx, &j, executor.Options{Output: buf}) }()
	for {
		out, _, _ := buf.Snapshot()
		if out == "first\n" {
			break
		}
		select {
		case res := <-done:
			t.Fatalf("the job ended before its first line was seen: %+v", res)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.Status != jobs.StatusSucceeded || res.Output != "first\nsecond\n" {
		t.Fatalf("got %+v", res)
	}
}
