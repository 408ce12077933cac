package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
)

func TestExecConfigBodyWritesParsableLines(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "it's.log") // a quote in the path
	cfg, err := jobfile.Parse("exec.yaml", []byte(ExecConfig(3, log)))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Jobs) != 3 || cfg.Jobs[0].MaxAttempts() != 3 || cfg.Jobs[0].Concurrency != jobs.ConcurrencyAllow {
		t.Fatalf("jobs %d, attempts %d, concurrency %s", len(cfg.Jobs), cfg.Jobs[0].MaxAttempts(), cfg.Jobs[0].Concurrency)
	}
	argv := cfg.Jobs[1].Command
	if len(argv) != 3 || argv[0] != "bash" {
		t.Fatalf("command %q", argv)
	}
	before := time.Now()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TOCK_JOB=tick-01", "TOCK_SCHEDULED_AT=2026-01-02T03:04:05Z", "TOCK_RUN_ID=42",
		"TOCK_ATTEMPT=2", ReplicaEnvVar+"=node-3", "TOCK_FENCE=", "TOCK_NODE=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("body: %v\n%s", err, out)
	}
	after := time.Now()
	lines, err := ParseExecLog(log)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].End || !lines[1].End {
		t.Fatalf("lines %+v; want a start and an end", lines)
	}
	l := lines[0]
	want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if l.Job != "tick-01" || !l.ScheduledAt.Equal(want) || l.RunID != 42 || l.Attempt != 2 || l.Fence != "" || l.Node != "node-3" {
		t.Errorf("start line %+v", l)
	}
	if l.At.Before(before.Add(-time.Millisecond)) || lines[1].At.After(after) || !lines[1].At.After(l.At) {
		t.Errorf("times %s .. %s outside %s .. %s", l.At, lines[1].At, before, after)
	}
	if d := lines[1].At.Sub(l.At); d < time.Millisecond {
		t.Errorf("the body's work took %s, want at least 1ms", d)
	}
}

func TestParseExecLogLenientOnlyWithTheLastLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	good := "start tick-00 2026-01-02T03:04:05Z 1 1 - node-1 1767323045.000100\n"
	if err := os.WriteFile(p, []byte(good+"start tick-00 2026"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := ParseExecLog(p)
	if err != nil || len(lines) != 1 || lines[0].At.Nanosecond() != 100000 {
		t.Fatalf("torn last line: %+v, %v", lines, err)
	}
	if err := os.WriteFile(p, []byte("garbage\n"+good), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseExecLog(p); err == nil {
		t.Fatal("a bad line in the middle is accepted")
	}
	if lines, err := ParseExecLog(filepath.Join(t.TempDir(), "none")); err != nil || lines != nil {
		t.Fatalf("missing log: %v, %v", lines, err)
	}
}

// execFixture builds a one-job window of three ticks and its history.
type execFixture struct {
	t     *testing.T
	job   *jobs.Job
	from  time.Time
	hist  []RunHistory
	lines []ExecLine
	evs   []LogEvent
}

func newExecFixture(t *testing.T) *execFixture {
	cfg, err := jobfile.Parse("x.yaml", []byte(TickConfig(1, "")))
	if err != nil {
		t.Fatal(err)
	}
	return &execFixture{t: t, job: cfg.Jobs[0], from: time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)}
}

func (f *execFixture) tick(i int) time.Time { return f.from.Add(time.Duration(i) * time.Second) }

// run adds a run of tick i with attempts (status, node, lease until as
// an offset from the tick, finished offset).
func (f *execFixture) run(id int64, i int, status jobs.RunStatus, atts ...jobs.Attempt) {
	r := jobs.Run{ID: id, Job: f.job.Name, ScheduledAt: f.tick(i), Trigger: jobs.TriggerSchedule, Status: status, Attempt: len(atts)}
	for n := range atts {
		atts[n].RunID, atts[n].Number = id, n+1
	}
	f.hist = append(f.hist, RunHistory{Run: r, Attempts: atts})
}

func (f *execFixture) att(node string, status jobs.RunStatus, leaseUntil, finished time.Duration, tick int) jobs.Attempt {
	fin := f.tick(tick).Add(finished)
	return jobs.Attempt{Node: node, Status: status, LeaseUntil: f.tick(tick).Add(leaseUntil), FinishedAt: &fin}
}

// body adds a start line (and an end line 5ms later if ended) for run id
// attempt n of tick i on node, starting off after the tick.
func (f *execFixture) body(id int64, n, i int, node string, off time.Duration, ended bool) {
	at := f.tick(i).Add(off)
	l := ExecLine{Job: f.job.Name, ScheduledAt: f.tick(i), RunID: id, Attempt: n, Node: node, At: at}
	f.lines = append(f.lines, l)
	if ended {
		l.End, l.At = true, at.Add(5*time.Millisecond)
		f.lines = append(f.lines, l)
	}
}

func (f *execFixture) event(msg, node string, id int64, n, i int, off time.Duration) {
	f.evs = append(f.evs, LogEvent{Replica: node, Msg: msg, RunID: id, Attempt: n, Time: f.tick(i).Add(off)})
}

func (f *execFixture) audit() ExecReport {
	return AuditExecutions(ExecParams{Jobs: []*jobs.Job{f.job}, From: f.from, To: f.tick(3), Lines: f.lines,
		History: f.hist, Events: f.evs, LateAfter: 10 * time.Second})
}

func TestAuditExecutionsClean(t *testing.T) {
	f := newExecFixture(t)
	for i := range 3 {
		id := int64(i + 1)
		f.run(id, i, jobs.StatusSucceeded, f.att("node-1", jobs.StatusSucceeded, 3*time.Second, 10*time.Millisecond, i))
		f.body(id, 1, i, "node-1", time.Duration(i+1)*time.Millisecond, true)
		f.event(MsgAttemptFinished, "node-1", id, 1, i, 20*time.Millisecond)
		f.event(MsgAttemptStarted, "node-1", id, 1, i, 0)
	}
	r := f.audit()
	if r.Ticks != 3 || r.Executions != 3 || r.Completed != 3 || r.Duplicates != 0 || r.StartsAfterLease != 0 ||
		r.Orphans != 0 || r.Mismatches != 0 || r.LostRuns != 0 || r.Early != 0 || r.Late != 0 || r.Unexecuted != 0 {
		t.Fatalf("clean window: %+v", r)
	}
	if r.Lateness.N != 3 || r.Lateness.P50 != 2*time.Millisecond || r.Lateness.Max != 3*time.Millisecond {
		t.Errorf("lateness %+v", r.Lateness)
	}
	if r.TockLateness.N != 3 || r.TockLateness.Max != 0 {
		t.Errorf("tock lateness %+v; want 0 (attempts started at the tick)", r.TockLateness)
	}
	// Durable 20ms after the tick, the body ended 5ms after its start.
	if r.EndToDurable.N != 3 || r.EndToDurable.Max != 14*time.Millisecond || r.EndToDurable.P50 != 13*time.Millisecond {
		t.Errorf("end to durable %+v", r.EndToDurable)
	}
}

func TestAuditExecutionsFrozenWorker(t *testing.T) {
	f := newExecFixture(t)
	// Tick 0: claimed ahead by frozen node-2 (lease to +2s), reaped at
	// +2.5s, retried on node-1 at +2.6s; node-2 thawed at +5s and started
	// its attempt all the same: a start after the reap, a true duplicate.
	f.run(1, 0, jobs.StatusSucceeded,
		f.att("node-2", jobs.StatusLost, 2*time.Second, 2500*time.Millisecond, 0),
		f.att("node-1", jobs.StatusSucceeded, 5*time.Second, 2700*time.Millisecond, 0))
	f.event(MsgAttemptLeaseExpired, "node-3", 1, 1, 0, 2500*time.Millisecond)
	f.body(1, 2, 0, "node-1", 2600*time.Millisecond, true)
	f.body(1, 1, 0, "node-2", 5*time.Second, false)
	// Tick 1: node-2 ran the body to its end before it froze; the result
	// never became durable, the attempt was lost and run again: allowed.
	f.run(2, 1, jobs.StatusSucceeded,
		f.att("node-2", jobs.StatusLost, 2*time.Second, 2500*time.Millisecond, 1),
		f.att("node-1", jobs.StatusSucceeded, 5*time.Second, 2700*time.Millisecond, 1))
	f.body(2, 1, 1, "node-2", time.Millisecond, true)
	f.body(2, 2, 1, "node-1", 2600*time.Millisecond, true)
	// Tick 2: node-2 was killed mid-body; attempt 2 ran after the reap.
	f.run(3, 2, jobs.StatusSucceeded,
		f.att("node-2", jobs.StatusLost, 2*time.Second, 2500*time.Millisecond, 2),
		f.att("node-1", jobs.StatusSucceeded, 5*time.Second, 2700*time.Millisecond, 2))
	f.body(3, 1, 2, "node-2", time.Millisecond, false)
	f.body(3, 2, 2, "node-1", 2600*time.Millisecond, true)
	r := f.audit()
	if r.Executions != 6 || r.Duplicates != 3 || r.TrueDuplicates != 1 || r.ReexecCompleted != 1 || r.ReexecInterrupted != 1 {
		t.Errorf("duplicates: %d executions, %d duplicates = %d true + %d completed + %d interrupted; want 6, 3 = 1+1+1",
			r.Executions, r.Duplicates, r.TrueDuplicates, r.ReexecCompleted, r.ReexecInterrupted)
	}
	if r.StartsAfterLease != 1 || r.StartsAfterReap != 1 {
		t.Errorf("starts after lease %d, after reap %d; want 1, 1", r.StartsAfterLease, r.StartsAfterReap)
	}
	if r.LostRuns != 3 || r.CompletedLost != 1 {
		t.Errorf("lost runs %d, completed lost %d; want 3, 1", r.LostRuns, r.CompletedLost)
	}
	if r.Orphans != 0 || r.Mismatches != 0 {
		t.Errorf("orphans %d, mismatches %d", r.Orphans, r.Mismatches)
	}
	if r.Lateness.Max != 2600*time.Millisecond {
		t.Errorf("lateness %+v", r.Lateness)
	}
	var b strings.Builder
	r.Print(&b)
	if !strings.Contains(b.String(), "start after lease/reap: tick-00 at 00:00:10: run 1 attempt 1") {
		t.Errorf("report does not name the late start:\n%s", b.String())
	}
}

func TestAuditExecutionsOverlapAndSkew(t *testing.T) {
	f := newExecFixture(t)
	// Tick 0: a leader whose clock runs ahead reaped attempt 1 while its
	// body ran (it started inside its lease); attempt 2 started before
	// attempt 1's end: overlapping executions.
	f.run(1, 0, jobs.StatusSucceeded,
		f.att("node-1", jobs.StatusLost, 3*time.Second, 10*time.Millisecond, 0),
		f.att("node-2", jobs.StatusSucceeded, 3*time.Second, 20*time.Millisecond, 0))
	f.event(MsgAttemptLeaseExpired, "node-3", 1, 1, 0, 2*time.Millisecond)
	f.body(1, 1, 0, "node-1", time.Millisecond, true)
	f.body(1, 2, 0, "node-2", 3*time.Millisecond, true)
	// Tick 1: started 3s early by a worker whose clock runs ahead.
	f.run(2, 1, jobs.StatusSucceeded, f.att("node-2", jobs.StatusSucceeded, 3*time.Second, 0, 1))
	f.body(2, 1, 1, "node-2", -3*time.Second, true)
	// Tick 2: history says succeeded, no body ran; and a body of a run
	// history does not know.
	f.run(3, 2, jobs.StatusSucceeded, f.att("node-1", jobs.StatusSucceeded, 3*time.Second, 0, 2))
	f.body(99, 1, 2, "node-3", time.Millisecond, true)
	r := f.audit()
	if r.TrueDuplicates != 1 || r.StartsAfterLease != 0 {
		t.Errorf("true duplicates %d (want 1, the overlap), starts after lease %d (want 0)", r.TrueDuplicates, r.StartsAfterLease)
	}
	if r.Early != 1 || r.Mismatches != 1 || r.Orphans != 1 || r.LostRuns != 1 || r.CompletedLost != 1 {
		t.Errorf("early %d, mismatches %d, orphans %d, lost runs %d, completed lost %d; want 1 each", r.Early, r.Mismatches, r.Orphans, r.LostRuns, r.CompletedLost)
	}
}

func TestDist(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	d := distOf(ds)
	if d.N != 100 || d.P50 != 50*time.Millisecond || d.P99 != 99*time.Millisecond || d.Max != 100*time.Millisecond {
		t.Errorf("dist %+v", d)
	}
	if distOf(nil).String() != "-" {
		t.Error("empty dist")
	}
}

func TestAuditExecutionsOvertaken(t *testing.T) {
	f := newExecFixture(t)
	// Tick 0 waits 10.5s (its doorbell was lost and rung again); ticks 1
	// and 2 start on time: tick 0 was overtaken. Late counts it too.
	for i := range 3 {
		id := int64(i + 1)
		f.run(id, i, jobs.StatusSucceeded, f.att("node-1", jobs.StatusSucceeded, 15*time.Second, 11*time.Second, i))
		off := 2 * time.Millisecond
		if i == 0 {
			off = 10500 * time.Millisecond
		}
		f.body(id, 1, i, "node-1", off, true)
		f.event(MsgAttemptStarted, "node-1", id, 1, i, off-time.Millisecond)
	}
	r := f.audit()
	if r.Overtaken != 1 || r.Late != 1 || r.OvertakeAfter != 5*time.Second {
		t.Errorf("overtaken %d (after %s), late %d; want 1 after 5s, 1", r.Overtaken, r.OvertakeAfter, r.Late)
	}
	// Every tick late alike (a backlog): late, but nothing overtaken.
	g := newExecFixture(t)
	for i := range 3 {
		id := int64(i + 1)
		g.run(id, i, jobs.StatusSucceeded, g.att("node-1", jobs.StatusSucceeded, 15*time.Second, 13*time.Second, i))
		g.body(id, 1, i, "node-1", 11*time.Second, true)
	}
	if r := g.audit(); r.Overtaken != 0 || r.Late != 3 {
		t.Errorf("backlog: overtaken %d, late %d; want 0, 3", r.Overtaken, r.Late)
	}
}

func TestAuditExecutionsSpawnAfterReapWithoutBody(t *testing.T) {
	f := newExecFixture(t)
	// Tick 0: node-2, thawed at +5s, spawned attempt 1 (reaped at +2.5s)
	// and was told of the loss before the body wrote a line; attempt 2 ran
	// on node-1. Tick 1: node-2 spawned attempt 1 inside its lease.
	f.run(1, 0, jobs.StatusSucceeded,
		f.att("node-2", jobs.StatusLost, 2*time.Second, 2500*time.Millisecond, 0),
		f.att("node-1", jobs.StatusSucceeded, 5*time.Second, 2700*time.Millisecond, 0))
	f.event(MsgAttemptLeaseExpired, "node-3", 1, 1, 0, 2500*time.Millisecond)
	f.event(MsgAttemptStarted, "node-2", 1, 1, 0, 5*time.Second)
	f.event(MsgAttemptStopped, "node-2", 1, 1, 0, 5100*time.Millisecond)
	f.body(1, 2, 0, "node-1", 2600*time.Millisecond, true)
	f.run(2, 1, jobs.StatusSucceeded, f.att("node-2", jobs.StatusSucceeded, 3*time.Second, 10*time.Millisecond, 1))
	f.event(MsgAttemptStarted, "node-2", 2, 1, 1, 0)
	f.body(2, 1, 1, "node-2", time.Millisecond, true)
	r := f.audit()
	if r.StartsAfterLease != 1 || r.StartsAfterReap != 1 || r.Duplicates != 0 {
		t.Errorf("starts after lease %d, after reap %d, duplicates %d; want 1, 1, 0", r.StartsAfterLease, r.StartsAfterReap, r.Duplicates)
	}
	var b strings.Builder
	r.Print(&b)
	if !strings.Contains(b.String(), "run 1 attempt 1: node-2 started its process at 00:00:15.000") {
		t.Errorf("report does not name the spawn:\n%s", b.String())
	}
}
