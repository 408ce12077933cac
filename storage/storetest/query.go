package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

var queryCases = []testCase{
	{"ListRunsFilters", testListFilters},
	{"ListRunsLimit", testListLimit},
	{"ListRunsKeysetPagination", testPagination},
	{"ListRunsHostileFilters", testHostileFilters},
	{"GetRunNotFound", testGetRunNotFound},
	{"LastRuns", testLastRuns},
	{"Nodes", testNodes},
}

func ids(runs []jobs.Run) []int64 {
	out := make([]int64, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

func testListFilters(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	a0 := queue(t, s, e, nr("a", at(0)))
	a1 := queue(t, s, e, with(nr("a", at(1)), func(r *storage.NewRun) { r.Trigger = jobs.TriggerCatchup }))
	b2 := queue(t, s, e, nr("b", at(2)))
	dispatch(t, s, e, at(3), with(nr("a", at(3)), func(r *storage.NewRun) { r.Status = jobs.StatusMissed }))
	a3 := list(t, s, storage.RunFilter{Status: jobs.StatusMissed})[0]
	m4, err := s.Trigger(ctx, "b", at(4))
	if err != nil {
		t.Fatal(err)
	}
	claim(t, s, b2, "n1", at(2), at(9))

	for _, tc := range []struct {
		name string
		f    storage.RunFilter
		want []int64
	}{
		{"all, newest first", storage.RunFilter{}, []int64{m4.ID, a3.ID, b2.ID, a1.ID, a0.ID}},
		{"job", storage.RunFilter{Job: "a"}, []int64{a3.ID, a1.ID, a0.ID}},
		{"status", storage.RunFilter{Status: jobs.StatusQueued}, []int64{a1.ID, a0.ID}},
		{"status running", storage.RunFilter{Status: jobs.StatusRunning}, []int64{b2.ID}},
		{"trigger", storage.RunFilter{Trigger: jobs.TriggerManual}, []int64{m4.ID}},
		{"trigger catchup", storage.RunFilter{Trigger: jobs.TriggerCatchup}, []int64{a1.ID}},
		{"since is inclusive", storage.RunFilter{Since: at(3)}, []int64{m4.ID, a3.ID}},
		{"until is exclusive", storage.RunFilter{Until: at(1)}, []int64{a0.ID}},
		{"since and until", storage.RunFilter{Since: at(1), Until: at(3)}, []int64{b2.ID, a1.ID}},
		{"job and status", storage.RunFilter{Job: "a", Status: jobs.StatusMissed}, []int64{a3.ID}},
		{"limit", storage.RunFilter{Limit: 2}, []int64{m4.ID, a3.ID}},
		{"no match", storage.RunFilter{Job: "zzz"}, []int64{}},
	} {
		got := ids(list(t, s, tc.f))
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: ListRuns = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func testListLimit(t *testing.T, s storage.Store) {
	e := bump(t, s)
	var in []storage.NewRun
	for i := range 1005 {
		in = append(in, nr("a", t0.Add(time.Duration(i)*time.Second)))
	}
	dispatch(t, s, e, t0, in...)
	if n := len(list(t, s, storage.RunFilter{})); n != 100 {
		t.Fatalf("ListRuns without a limit returned %d runs, want the default 100", n)
	}
	if n := len(list(t, s, storage.RunFilter{Limit: 5000})); n != 1000 {
		t.Fatalf("ListRuns with limit 5000 returned %d runs, want the cap 1000", n)
	}
}

func testPagination(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	// Three jobs fire at the same ticks and manual runs share them, so many
	// runs tie on scheduled_at and only the id orders them.
	var in []storage.NewRun
	for i := range 15 {
		for _, job := range []string{"a", "b", "c"} {
			in = append(in, nr(job, t0.Add(time.Duration(i)*time.Minute)))
		}
	}
	total := len(dispatch(t, s, e, t0, in...))
	for i := range 10 {
		if _, err := s.Trigger(ctx, "m", t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		total++
	}
	seen := map[int64]bool{}
	var prev *jobs.Run
	f := storage.RunFilter{Limit: 7}
	for pages := 0; ; pages++ {
		if pages > total {
			t.Fatal("pagination does not end")
		}
		page := list(t, s, f)
		for i := range page {
			r := page[i]
			if seen[r.ID] {
				t.Fatalf("run %d returned on two pages", r.ID)
			}
			seen[r.ID] = true
			if prev != nil && !(r.ScheduledAt.Before(prev.ScheduledAt) || r.ScheduledAt.Equal(prev.ScheduledAt) && r.ID < prev.ID) {
				t.Fatalf("run %d (%s) follows run %d (%s): not newest first", r.ID, r.ScheduledAt, prev.ID, prev.ScheduledAt)
			}
			prev = &r
		}
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.Before = &storage.Cursor{ScheduledAt: last.ScheduledAt, ID: last.ID}
	}
	if len(seen) != total {
		t.Fatalf("pages held %d runs, want all %d", len(seen), total)
	}
	// Keyset pagination composes with filters.
	f = storage.RunFilter{Job: "b", Limit: 4}
	n := 0
	for {
		page := list(t, s, f)
		n += len(page)
		if len(page) < f.Limit {
			break
		}
		f.Before = &storage.Cursor{ScheduledAt: page[len(page)-1].ScheduledAt, ID: page[len(page)-1].ID}
	}
	if n != 15 {
		t.Fatalf("paging job b found %d runs, want 15", n)
	}
}

func testHostileFilters(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	dispatch(t, s, e, t0, nr("a", t0), nr("b", t0))
	hostile := []string{
		"' OR 1=1 --",
		`"; DROP TABLE runs; --`,
		"a' OR 'a'='a",
		`a\' OR 1=1 #`,
		"a%", "_", "*",
		"%' UNION SELECT * FROM leader --",
		"ジョブ🙂",
		"a\x00b",
		"\xff\xfe not utf-8",
		strings.Repeat("a", 100_000),
	}
	for _, h := range hostile {
		for _, f := range []storage.RunFilter{{Job: h}, {Status: jobs.RunStatus(h)}, {Trigger: jobs.Trigger(h)}} {
			got, err := s.ListRuns(ctx, f)
			if err != nil {
				t.Fatalf("ListRuns(%.40q): %v", h, err)
			}
			if len(got) != 0 {
				t.Fatalf("ListRuns(%.40q) matched %d runs, want none", h, len(got))
			}
		}
	}
	if all := list(t, s, storage.RunFilter{}); len(all) != 2 {
		t.Fatalf("after hostile filters history holds %d runs, want 2", len(all))
	}
	// Stored names come back exactly and match only themselves.
	for _, name := range []string{"' OR 1=1 --", "ジョブ🙂", "a%"} {
		r, err := s.Trigger(ctx, name, t0)
		if err != nil {
			t.Fatalf("Trigger(%q): %v", name, err)
		}
		got := list(t, s, storage.RunFilter{Job: name})
		if len(got) != 1 || got[0].ID != r.ID || got[0].Job != name {
			t.Fatalf("ListRuns(job %q) = %+v, want only run %d", name, got, r.ID)
		}
	}
}

func testGetRunNotFound(t *testing.T, s storage.Store) {
	_, _, err := s.GetRun(t.Context(), 424242)
	wantErr(t, "GetRun of an unknown run", err, storage.ErrNotFound)
}

func testLastRuns(t *testing.T, s storage.Store) {
	ctx := t.Context()
	e := bump(t, s)
	if got, err := s.LastRuns(ctx); err != nil || len(got) != 0 {
		t.Fatalf("LastRuns of an empty store = (%v, %v), want empty", got, err)
	}
	got := dispatch(t, s, e, t0, nr("a", t0), nr("a", t0.Add(time.Minute)), nr("b", t0), nr("c", t0))
	claim(t, s, got[3], "n1", t0, t0.Add(time.Minute)) // c's newest run is running
	m, err := s.Trigger(ctx, "b", t0.Add(-time.Hour))  // newest by id, though scheduled earlier
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.LastRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"a": got[1].ID, "b": m.ID, "c": got[3].ID}
	if len(last) != len(want) {
		t.Fatalf("LastRuns has %d jobs, want %d", len(last), len(want))
	}
	for job, id := range want {
		if last[job].ID != id || last[job].Job != job {
			t.Fatalf("LastRuns[%s] = run %d, want %d", job, last[job].ID, id)
		}
	}
	if last["c"].Status != jobs.StatusRunning {
		t.Fatalf("LastRuns[c] status %s, want running", last["c"].Status)
	}
}

func testNodes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	n1 := storage.Node{ID: "n1", Host: "h1", Role: "all", Version: "v1", Digest: "x", StartedAt: t0, Heartbeat: t0}
	n2 := storage.Node{ID: "n2", Host: "h2", Role: "worker", Version: "v1", Digest: "y", StartedAt: t0, Heartbeat: t0.Add(time.Minute),
		ClockOffset: -3*time.Second - 250*time.Microsecond, ClockRTT: 1500 * time.Microsecond}
	for _, n := range []storage.Node{n1, n2} {
		if err := s.UpsertNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	check := func(since time.Time, want ...storage.Node) {
		t.Helper()
		got, err := s.Nodes(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("Nodes(%s) = %+v, want %+v", since, got, want)
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.ID != w.ID || g.Host != w.Host || g.Role != w.Role || g.Version != w.Version || g.Digest != w.Digest ||
				!g.StartedAt.Equal(w.StartedAt) || !g.Heartbeat.Equal(w.Heartbeat) || g.ClockOffset != w.ClockOffset || g.ClockRTT != w.ClockRTT {
				t.Fatalf("Nodes(%s)[%d] = %+v, want %+v", since, i, g, w)
			}
		}
	}
	check(time.Time{}, n1, n2)
	check(t0, n1, n2)
	check(t0.Add(time.Second), n2)
	n1.Heartbeat, n1.Version, n1.Digest, n1.ClockOffset = t0.Add(2*time.Minute), "v2", "z", 42*time.Millisecond
	if err := s.UpsertNode(ctx, n1); err != nil {
		t.Fatal(err)
	}
	check(t0.Add(time.Second), n1, n2)
	check(t0.Add(90*time.Second), n1)
}
