package jobs

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"0", 0, ""},
		{"90s", 90 * time.Second, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"30d", 30 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"0d30m", 30 * time.Minute, ""},
		{" 2d ", 48 * time.Hour, ""},
		{"-1d", -24 * time.Hour, ""},
		{"+5m", 5 * time.Minute, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{"", 0, "invalid duration"},
		{"d", 0, "invalid duration"},
		{"1.5d", 0, "invalid duration"},
		{"1d-2h", 0, "invalid duration"},
		{"12h1d", 0, "invalid duration"},
		{"1dd", 0, "invalid duration"},
		{"--1s", 0, "invalid duration"},
		{"30", 0, "missing unit"},
		{"2w", 0, "unknown unit"},
		{"abc", 0, "invalid duration"},
		{"106752d", 0, "out of range"},
		{"106751d24h", 0, "out of range"},
		{"99999999999999999999d", 0, "out of range"},
		{"9999999999h", 0, "invalid duration"},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseDuration(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
		}
	}
}
