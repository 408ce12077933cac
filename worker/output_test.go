package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/storage"
)

const liveConfig = `
jobs:
  - {name: live, schedule: "* * * * *", command: ["true"]}
`

// outputSpy records the store's live output writes.
type outputSpy struct {
	storage.Store
	mu      sync.Mutex
	flushes []storage.OutputParams
	beats   []*storage.LiveOutput // the output each heartbeat carried
	wrote   chan struct{}         // a flush or heartbeat returned
}

func (s *outputSpy) FlushOutput(ctx context.Context, p storage.OutputParams) error {
	err := s.Store.FlushOutput(ctx, p)
	s.mu.Lock()
	s.flushes = append(s.flushes, p)
	s.mu.Unlock()
	s.wrote <- struct{}{}
	return err
}

func (s *outputSpy) Heartbeat(ctx context.Context, p storage.HeartbeatParams) (bool, error) {
	c, err := s.Store.Heartbeat(ctx, p)
	s.mu.Lock()
	s.beats = append(s.beats, p.Output)
	s.mu.Unlock()
	s.wrote <- struct{}{}
	return c, err
}

func (s *outputSpy) counts() (flushes, beats int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.flushes), len(s.beats)
}

// scriptExec is an executor whose job writes what the test sends on lines
// to its output buffer, answering on lines once written, and ends when
// lines is closed.
func scriptExec(lines chan string, sawBuffer chan<- bool) func(context.Context, *jobs.Job, executor.Options) executor.Result {
	return func(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result {
		if err := o.StartGate(); err != nil {
			return executor.Result{Status: jobs.StatusCanceled, NotStarted: true}
		}
		sawBuffer <- o.Output != nil
		out := o.Output
		if out == nil {
			out = executor.NewCappedBuffer(o.OutputLimit)
		}
		for more := true; more; {
			select {
			case l, ok := <-lines:
				_, _ = out.Write([]byte(l))
				if more = ok; more {
					select {
					case lines <- "":
					case <-ctx.Done():
					}
				}
			case <-ctx.Done():
				return executor.Result{Status: jobs.StatusCanceled, Error: "canceled", Output: out.String()}
			}
		}
		code := 0
		return executor.Result{Status: jobs.StatusSucceeded, ExitCode: &code, Output: out.String(), OutputDropped: out.Dropped()}
	}
}

func (r *rig) output(id int64) string {
	r.t.Helper()
	_, atts := r.get(id)
	if len(atts) == 0 {
		return ""
	}
	return atts[len(atts)-1].Output
}

// startPrinting starts a pool with OutputFlush flush on a spied store and
// a scripted job that has printed "one\n"; the job prints each further
// line sent on lines and ends when lines is closed. live tells whether the
// executor was given the pool's live output buffer.
func startPrinting(t *testing.T, flush time.Duration) (r *rig, spy *outputSpy, lines chan string, run jobs.Run, live bool) {
	t.Helper()
	lines, saw := make(chan string), make(chan bool, 1)
	r = newIdleRig(t, liveConfig)
	spy = &outputSpy{Store: r.store, wrote: make(chan struct{}, 100)}
	r.start(Options{Workers: 1, Exec: scriptExec(lines, saw), Store: spy, OutputFlush: flush})
	run = r.dispatch("live", t0)
	r.wait(r.started, "started")
	live = <-saw
	lines <- "one\n"
	<-lines
	return r, spy, lines, run, live
}

// TestLiveOutputFlushed: while an attempt runs, its output reaches the
// store every OutputFlush when new bytes arrived, and only then; the final
// output replaces it.
func TestLiveOutputFlushed(t *testing.T) {
	t.Parallel()
	r, spy, lines, run, live := startPrinting(t, time.Second)
	if !live {
		t.Fatal("the executor got no output buffer")
	}
	<-r.clk.BlockUntil(2) // heartbeat and flusher
	r.clk.Advance(time.Second)
	<-spy.wrote
	if got := r.output(run.ID); got != "one\n" {
		t.Fatalf("output after the first flush = %q, want %q", got, "one\n")
	}
	// Nothing new: the next interval writes nothing.
	<-r.clk.BlockUntil(2)
	r.clk.Advance(time.Second)
	<-r.clk.BlockUntil(2) // the flusher waits again, having written nothing
	if f, _ := spy.counts(); f != 1 {
		t.Fatalf("%d flushes with no new bytes, want 1 in all", f)
	}
	lines <- "two\n"
	<-lines
	close(lines)
	r.wait(r.finished, "finished")
	_, atts := r.get(run.ID)
	if len(atts) != 1 || atts[0].Status != jobs.StatusSucceeded || atts[0].Output != "one\ntwo\n" {
		t.Fatalf("attempts = %+v, want the final output", atts)
	}
}

// TestLiveOutputWithHeartbeat: a heartbeat carries the output when new
// bytes arrived, in its own statement.
func TestLiveOutputWithHeartbeat(t *testing.T) {
	t.Parallel()
	r, spy, lines, run, _ := startPrinting(t, time.Hour)
	<-r.clk.BlockUntil(2)
	r.clk.Advance(5 * time.Second)
	<-spy.wrote
	spy.mu.Lock()
	beat, flushes := spy.beats[0], len(spy.flushes)
	spy.mu.Unlock()
	if beat == nil || beat.Output != "one\n" || flushes != 0 {
		t.Fatalf("heartbeat carried %+v (%d flushes), want the output so far", beat, flushes)
	}
	if got := r.output(run.ID); got != "one\n" {
		t.Fatalf("output after the heartbeat = %q", got)
	}
	close(lines)
	r.wait(r.finished, "finished")
}

// TestLiveOutputOff: a negative OutputFlush writes no output before the
// attempt ends.
func TestLiveOutputOff(t *testing.T) {
	t.Parallel()
	r, spy, lines, run, live := startPrinting(t, -1)
	if live {
		t.Fatal("the executor got a live output buffer with live output off")
	}
	<-r.clk.BlockUntil(1)
	r.clk.Advance(5 * time.Second)
	<-spy.wrote
	spy.mu.Lock()
	beat := spy.beats[0]
	spy.mu.Unlock()
	if f, _ := spy.counts(); f != 0 || beat != nil || r.output(run.ID) != "" {
		t.Fatalf("live output off: %d flushes, heartbeat output %+v, stored %q", f, beat, r.output(run.ID))
	}
	close(lines)
	r.wait(r.finished, "finished")
	if got := r.output(run.ID); got != "one\n" {
		t.Fatalf("final output = %q", got)
	}
}
