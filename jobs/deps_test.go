package jobs

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDepCondition(t *testing.T) {
	t.Parallel()
	cases := []struct {
		st      RunStatus
		attempt int
		want    [3]bool // success, failure, completed
	}{
		{StatusSucceeded, 1, [3]bool{true, false, true}},
		{StatusFailed, 2, [3]bool{false, true, true}},
		{StatusTimedOut, 1, [3]bool{false, true, true}},
		{StatusLost, 1, [3]bool{false, true, true}},
		{StatusCanceled, 1, [3]bool{false, true, true}},
		{StatusCanceled, 0, [3]bool{}}, // canceled before it started
		{StatusFailed, 0, [3]bool{}},   // failed unclaimed
		{StatusMissed, 0, [3]bool{}},
		{StatusSkipped, 0, [3]bool{}},
		{StatusQueued, 1, [3]bool{}}, // being retried: not ended
		{StatusRunning, 1, [3]bool{}},
	}
	for _, c := range cases {
		for i, cond := range AllDepConditions {
			if got := cond.Holds(c.st, c.attempt); got != c.want[i] {
				t.Errorf("%s.Holds(%s, attempt %d) = %v, want %v", cond, c.st, c.attempt, got, c.want[i])
			}
		}
	}
}

func TestDepsJSON(t *testing.T) {
	t.Parallel()
	j := Job{Name: "b", Settings: &Settings{Deps: &Deps{After: []Upstream{{Job: "a", On: DepFailure}}}}}
	b, err := json.Marshal(&j)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		After []Upstream `json:"after"`
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.After) != 1 || back.After[0] != j.Deps.After[0] {
		t.Fatalf("JSON %s decodes to %+v (%v)", b, back, err)
	}
	if b, _ := json.Marshal(&Job{Name: "a"}); strings.Contains(string(b), `"after"`) {
		t.Fatalf("a job without after has it in JSON: %s", b)
	}
}
