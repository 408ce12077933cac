package jobs

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base, max time.Duration
		next      int
		want      time.Duration
	}{
		{10 * time.Second, 10 * time.Minute, 2, 10 * time.Second},
		{10 * time.Second, 10 * time.Minute, 3, 20 * time.Second},
		{10 * time.Second, 10 * time.Minute, 4, 40 * time.Second},
		{10 * time.Second, 10 * time.Minute, 8, 10 * time.Minute}, // 640s capped
		{10 * time.Second, 10 * time.Minute, 1000, 10 * time.Minute},
		{10 * time.Second, 0, 5, 80 * time.Second},           // no cap
		{time.Minute, 30 * time.Second, 2, 30 * time.Second}, // base above max
		{0, time.Minute, 5, 0},
		{-time.Second, time.Minute, 5, 0},
		{time.Second, time.Minute, 1, time.Second}, // "next" below 2 is treated as the first retry
	}
	for _, tc := range tests {
		if got := Backoff(tc.base, tc.max, tc.next); got != tc.want {
			t.Errorf("Backoff(%v, %v, %d) = %v, want %v", tc.base, tc.max, tc.next, got, tc.want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	for _, s := range AllStatuses {
		got, err := ParseStatus(string(s))
		if err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "done", "Queued", "running "} {
		if _, err := ParseStatus(bad); err == nil {
			t.Errorf("ParseStatus(%q) succeeded", bad)
		}
	}
	terminal := map[RunStatus]bool{
		StatusScheduled: false, StatusQueued: false, StatusRunning: false,
		StatusSucceeded: true, StatusFailed: true, StatusTimedOut: true, StatusCanceled: true,
		StatusLost: true, StatusMissed: true, StatusSkipped: true,
	}
	if len(terminal) != len(AllStatuses) {
		t.Fatalf("table covers %d statuses, AllStatuses has %d", len(terminal), len(AllStatuses))
	}
	for s, want := range terminal {
		if s.Terminal() != want {
			t.Errorf("%s.Terminal() = %v, want %v", s, !want, want)
		}
	}
}

func TestParseTrigger(t *testing.T) {
	t.Parallel()
	for _, tr := range AllTriggers {
		got, err := ParseTrigger(string(tr))
		if err != nil || got != tr {
			t.Errorf("ParseTrigger(%q) = %q, %v", tr, got, err)
		}
	}
	for _, bad := range []string{"", "cron", "Manual"} {
		if _, err := ParseTrigger(bad); err == nil {
			t.Errorf("ParseTrigger(%q) succeeded", bad)
		}
	}
}
