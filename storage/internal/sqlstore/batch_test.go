package sqlstore

import (
	"fmt"
	"testing"
	"time"
)

func TestCaseUpdate(t *testing.T) {
	t.Parallel()
	q, args := caseUpdate("runs", "id", "node = ''", []string{"status", "error"}, []int64{7, 9},
		[][]any{{"queued", "e7"}, {"failed", "e9"}}, " AND status = 'running'")
	wantQ := "UPDATE runs SET node = '', status = CASE id WHEN ? THEN ? WHEN ? THEN ? END, " +
		"error = CASE id WHEN ? THEN ? WHEN ? THEN ? END WHERE id IN (?, ?) AND status = 'running'"
	wantArgs := "[7 queued 9 failed 7 e7 9 e9 7 9]"
	if q != wantQ || fmt.Sprint(args) != wantArgs {
		t.Fatalf("caseUpdate =\n%s %v\nwant\n%s %s", q, args, wantQ, wantArgs)
	}
	// Columns with one value for all rows need no CASE.
	at := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	q, args = caseUpdate("attempts", "run_id", "", []string{"status", "finished_at", "exit_code", "output"}, []int64{3, 4},
		[][]any{{"succeeded", at, nil, "a"}, {"succeeded", at, nil, "b"}}, "")
	wantQ = "UPDATE attempts SET status = ?, finished_at = ?, exit_code = ?, output = CASE run_id WHEN ? THEN ? WHEN ? THEN ? END " +
		"WHERE run_id IN (?, ?)"
	if wantArgs := fmt.Sprint([]any{"succeeded", at, nil, 3, "a", 4, "b", 3, 4}); q != wantQ || fmt.Sprint(args) != wantArgs {
		t.Fatalf("caseUpdate =\n%s %v\nwant\n%s %s", q, args, wantQ, wantArgs)
	}
}

func TestSameValue(t *testing.T) {
	t.Parallel()
	at := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		a, b any
		want bool
	}{
		{nil, nil, true}, {nil, int64(0), false}, {int64(0), nil, false},
		{"x", "x", true}, {"x", "y", false}, {"1", int64(1), false},
		{int64(1), int64(1), true}, {int64(1), int64(2), false},
		{at, at, true}, {at, at.Add(time.Microsecond), false}, {at, at.In(time.FixedZone("X", 3600)), false},
		{[]byte("x"), []byte("x"), false},
	} {
		if got := sameValue(tc.a, tc.b); got != tc.want {
			t.Errorf("sameValue(%#v, %#v) = %t, want %t", tc.a, tc.b, got, tc.want)
		}
	}
}
