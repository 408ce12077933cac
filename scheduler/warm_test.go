package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/sqlite/sqlitetest"
)

// sharedLease is one lease that the replicas of a test compete for, with
// its TTL on the fake clock. A crashed holder neither renews nor releases
// (kill -9); a refused replica never wins (cut off from Redis).
type sharedLease struct {
	node string
	st   *leaseBoard
}

type leaseBoard struct {
	mu      sync.Mutex
	clk     *clock.Fake
	holder  string
	until   time.Time
	crashed map[string]bool
	refused map[string]bool
}

const sharedTTL = 3 * time.Second

func newLeaseBoard(clk *clock.Fake) *leaseBoard {
	return &leaseBoard{clk: clk, crashed: map[string]bool{}, refused: map[string]bool{}}
}

func (b *leaseBoard) lease(node string) *sharedLease { return &sharedLease{node: node, st: b} }

func (b *leaseBoard) set(m map[string]bool, node string, v bool) {
	b.mu.Lock()
	m[node] = v
	b.mu.Unlock()
}

func (l *sharedLease) Acquire(context.Context) (bool, time.Time, error) {
	b := l.st
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clk.Now()
	if b.refused[l.node] || b.holder != "" && b.holder != l.node && now.Before(b.until) {
		return false, time.Time{}, nil
	}
	b.holder, b.until = l.node, now.Add(sharedTTL)
	return true, b.until, nil
}

func (l *sharedLease) Renew(context.Context) (time.Time, error) {
	b := l.st
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.crashed[l.node] {
		return time.Time{}, errors.New("crashed")
	}
	if b.holder != l.node {
		return time.Time{}, storage.ErrLeaseLost
	}
	b.until = b.clk.Now().Add(sharedTTL)
	return b.until, nil
}

func (l *sharedLease) Release(context.Context) error {
	b := l.st
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holder == l.node && !b.crashed[l.node] {
		b.holder = ""
	}
	return nil
}

func (l *sharedLease) Released(context.Context) <-chan struct{} { return nil }
func (l *sharedLease) TTL() time.Duration                       { return sharedTTL }

// Timers armed while idle: a leader's (leaderTimers) and a standby's
// (its elector's retry and its warm loop's).
const standbyTimers = 2

// stepAll advances clk by d in one-second steps, each once n timers are
// armed.
func stepAll(clk *clock.Fake, n int, d time.Duration) {
	for i := time.Duration(0); i < d; i += time.Second {
		<-clk.BlockUntil(n)
		clk.Advance(time.Second)
	}
}

// TestWarmStandbyTakeover: a leader dies without a word (kill -9) between
// ticks; the standby takes over after the lease TTL. Whether it starts
// warm (its schedule followed since before the last watermark) or cold
// (another config; or kept from the lease until the ticks it noted are
// forgotten), every tick of every job has exactly one row.
func TestWarmStandbyTakeover(t *testing.T) {
	const cfg = `
defaults: {concurrency: allow, misfire: run_all}
jobs:
  - {name: sec, schedule: "* * * * * *", command: ["true"]}
  - {name: two, schedule: "*/2 * * * * *", command: ["true"]}
  - {name: min, schedule: "* * * * *", command: ["true"]}
  - {name: held, schedule: "* * * * * *", command: ["true"]}
`
	// reloaded changes a job's command and adds one.
	reloaded := strings.Replace(cfg, `{name: sec, schedule: "* * * * * *", command: ["true"]}`,
		`{name: sec, schedule: "* * * * * *", command: ["false"]}`, 1) +
		`  - {name: late, schedule: "* * * * * *", command: ["true"]}` + "\n"
	for _, tc := range []struct {
		name     string
		bConfig  string
		reload   string        // both replicas reload this config half-way
		refuse   time.Duration // the standby is kept from the lease this long after the crash
		wantWarm bool
	}{
		{name: "warm", bConfig: cfg, wantWarm: true},
		{name: "warm after both reloaded", bConfig: cfg, reload: reloaded, wantWarm: true},
		{name: "another config", bConfig: cfg + `  - {name: extra, schedule: "@hourly", command: ["true"]}` + "\n"},
		{name: "kept out past its memory", bConfig: cfg, refuse: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := sqlitetest.NewStore(t)
			clk := clock.NewFake(t0)
			board := newLeaseBoard(clk)
			a := newRigWith(t, cfg, st, clk, "a", board.lease("a"))
			b := newRigWith(t, tc.bConfig, st, clk, "b", board.lease("b"))
			if err := st.SetPaused(context.Background(), "held", true); err != nil {
				t.Fatal(err)
			}
			a.start()
			if err := b.s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.s.Stop)
			stepAll(clk, leaderTimers+standbyTimers, 35*time.Second)
			reloadAt := clk.Now()
			if tc.reload != "" {
				a.s.SetConfig(mustConfig(t, tc.reload))
				b.s.SetConfig(mustConfig(t, tc.reload))
			}
			stepAll(clk, leaderTimers+standbyTimers, 35*time.Second)
			// kill -9 of a, 300ms after a tick.
			<-clk.BlockUntil(leaderTimers + standbyTimers)
			clk.Advance(300 * time.Millisecond)
			<-clk.BlockUntil(leaderTimers + standbyTimers)
			board.set(board.crashed, "a", true)
			board.set(board.refused, "b", tc.refuse > 0)
			a.s.Stop()
			stepAll(clk, standbyTimers, tc.refuse)
			board.set(board.refused, "b", false)
			for elected := false; !elected; {
				select {
				case <-b.elected:
					elected = true
				default:
					stepAll(clk, standbyTimers, time.Second)
				}
			}
			start := <-b.starts
			if got := start >= 0; got != tc.wantWarm {
				t.Fatalf("term start warm = %v (replanned %d), want %v", got, start, tc.wantWarm)
			}
			if tc.wantWarm && start < 3 {
				t.Errorf("warm start replanned %d ticks, want at least the 3 the dead leader left", start)
			}
			stepAll(clk, leaderTimers, 10*time.Second)
			b.s.Stop()
			end := clk.Now().Add(-2 * time.Second)
			auditTicks(t, b, t0, end, map[string]time.Duration{"sec": time.Second, "two": 2 * time.Second, "min": time.Minute})
			if tc.reload != "" {
				auditTicks(t, b, reloadAt, end, map[string]time.Duration{"late": time.Second})
			}
			if n := len(b.runs(storage.RunFilter{Job: "held"})); n != 0 {
				t.Errorf("paused job held has %d rows, want none", n)
			}
		})
	}
}

// auditTicks checks that every tick in (from, to] of each job (period) has
// exactly one row, and no row is outside the grid.
func auditTicks(t *testing.T, r *rig, from, to time.Time, periods map[string]time.Duration) {
	t.Helper()
	for job, p := range periods {
		seen := map[time.Time]int{}
		for _, run := range r.runs(storage.RunFilter{Job: job}) {
			if run.Trigger != jobs.TriggerSchedule && run.Trigger != jobs.TriggerCatchup {
				continue
			}
			seen[run.ScheduledAt.UTC()]++
		}
		for at := from.Truncate(p).Add(p); !at.After(to); at = at.Add(p) {
			if n := seen[at]; n != 1 {
				t.Errorf("%s: tick %s has %d rows, want 1", job, at.Format("15:04:05"), n)
			}
			delete(seen, at)
		}
		for at, n := range seen {
			if at.After(to) {
				continue
			}
			t.Errorf("%s: %d rows for %s, not a tick in the window", job, n, at.Format(time.RFC3339))
		}
	}
}

// failingDispatch is a store whose Dispatch fails.
type failingDispatch struct{ storage.Store }

func (failingDispatch) Dispatch(context.Context, storage.DispatchParams) ([]jobs.Run, error) {
	return nil, errors.New("store down")
}

// TestLoadFailedMidwayHandsBackNothing: a term whose load stopped at a
// failed write holds a schedule without some jobs; handing it to the
// standby would leave those jobs unscheduled after a warm takeover, so the
// term hands back nothing (the standby rebuilds), and a whole schedule is
// known only from a lookahead after the term's end.
func TestLoadFailedMidwayHandsBackNothing(t *testing.T) {
	cfg := mustConfig(t, `
jobs:
  - {name: a, schedule: "* * * * *", command: ["true"]}
  - {name: b, schedule: "* * * * *", command: ["true"]}
  - {name: c, schedule: "* * * * *", command: ["true"]}
  - {name: d, schedule: "* * * * *", command: ["true"]}
`)
	clk := clock.NewFake(t0)
	s := New(cfg, Options{Store: failingDispatch{}, Clock: clk, MaxBatch: 2, Lookahead: time.Second})
	term := &term{s: s, epoch: 1, log: s.log, sched: newSchedule(s.dispatchLead), storePaused: map[string]bool{}, cursors: map[string]time.Time{}}
	if err := term.load(context.Background(), cfg, nil, true, clk.Now()); err == nil {
		t.Fatal("load with a failing store succeeded")
	}
	if n := term.sched.len(); n == 0 || n == len(cfg.Jobs) {
		t.Fatalf("the failed load scheduled %d of %d jobs, want it stopped midway", n, len(cfg.Jobs))
	}
	if st := term.handBack(); st != nil {
		t.Fatalf("a term whose load failed midway handed back a schedule of %d jobs", st.sched.len())
	}
	term.whole = true
	st := term.handBack()
	if st == nil || !st.knownFrom.Equal(clk.Now().Add(time.Second)) {
		t.Fatalf("a whole schedule handed back as %+v, want known from now+lookahead", st)
	}
}
