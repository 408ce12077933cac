package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/tock-sched/tock/storage/redis/redistest"
)

// TestSentinelMasterKilled: three replicas reach Redis through Sentinel
// (one master, one replica, one sentinel); the master is killed with
// kill -9 and the sentinel promotes the replica. Every tick still has
// exactly one row, and no dispatch gap exceeds lease-ttl + the sentinel's
// failover time (kill to the replica answering ROLE master) + 1 s.
func TestSentinelMasterKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: multi-process tests do not run with -short")
	}
	set := redistest.StartSentinel(t, time.Second)
	// The bodies log each execution: the audit checks what ran, not only
	// history.
	execLog := filepath.Join(t.TempDir(), "executions.log")
	s := newScenarioWith(t, set.URL(), "sentinel", ExecConfig(tickJobs, execLog))
	s.runFor(4 * time.Second)
	atSubsecond(300)
	killAt := time.Now()
	set.Master.Kill()
	promoted, err := waitMaster(s.ctx(60*time.Second), set.Replica.Addr)
	if err != nil {
		t.Fatalf("the sentinel promoted no replica: %v", err)
	}
	failover := promoted.Sub(killAt)
	first, err := s.c.WaitDispatchAfter(s.ctx(60*time.Second), pollEvery, promoted)
	if err != nil {
		t.Fatalf("nothing dispatched after the promotion: %v", err)
	}
	bound := s.c.Options().LeaseTTL + failover + time.Second + failoverSlack
	t.Logf("master killed; replica promoted %s later; first dispatch %s after the promotion (bound from the kill %s)",
		failover.Round(time.Millisecond), first.Sub(promoted).Round(time.Millisecond), bound)
	s.runFor(8 * time.Second)
	rep := s.audit()
	if rep.MaxDispatchGap > bound {
		t.Errorf("max dispatch gap %s at %s exceeds lease-ttl + sentinel failover + 1s + slack = %s", rep.MaxDispatchGap, rep.MaxDispatchGapAt, bound)
	}
	auditExecutions(t, s, execLog, rep)
}

// auditExecutions checks the scenario's window against what the job
// bodies logged: every tick executed, none twice, none against history.
func auditExecutions(t *testing.T, s *scenario, execLog string, rep Report) {
	t.Helper()
	lines, err := ParseExecLog(execLog)
	if err != nil {
		t.Fatal(err)
	}
	jobsList := s.tickJobs()
	names := make([]string, len(jobsList))
	for i, j := range jobsList {
		names[i] = j.Name
	}
	to := rep.To
	hist, err := CollectHistory(s.ctx(30*time.Second), s.c.Store(), s.from, to, names)
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.c.LogEvents(MsgAttemptLeaseExpired, MsgAttemptFinished, MsgAttemptStopped, MsgAttemptStarted)
	if err != nil {
		t.Fatal(err)
	}
	x := AuditExecutions(ExecParams{Jobs: jobsList, From: s.from, To: to, Lines: lines, History: hist, Events: events,
		LateAfter: FaultRequeueAfter, OvertakeAfter: FaultOvertakeAfter})
	var b strings.Builder
	x.Print(&b)
	t.Logf("executions:\n%s", b.String())
	if x.TrueDuplicates > 0 || x.StartsAfterLease > 0 || x.Mismatches > 0 || x.Orphans > 0 || x.Unexecuted > 0 {
		t.Errorf("executions not clean: %d true duplicates, %d starts after a lease, %d mismatches, %d orphans, %d unexecuted ticks",
			x.TrueDuplicates, x.StartsAfterLease, x.Mismatches, x.Orphans, x.Unexecuted)
	}
}

// waitMaster waits until the server at addr says ROLE master.
func waitMaster(ctx context.Context, addr string) (time.Time, error) {
	var at time.Time
	err := Poll(ctx, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		c, err := redigo.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, nil
		}
		defer c.Close()
		role, err := redigo.Values(c.Do("ROLE"))
		if err != nil || len(role) == 0 {
			return false, nil
		}
		if r, _ := redigo.String(role[0], nil); r == "master" {
			at = time.Now()
			return true, nil
		}
		return false, nil
	})
	return at, err
}
