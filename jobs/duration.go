package jobs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a duration as written in config files and on the
// command line: Go's time.ParseDuration syntax plus a leading day count with
// a d suffix, e.g. 90s, 15m, 30d, 1d12h.
func ParseDuration(s string) (time.Duration, error) {
	in := s
	s = strings.TrimSpace(s)
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 90s, 15m, 2h, 1d12h)", in)
	}
	if s == "" {
		return bad()
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	var total time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		if i == 0 || strings.TrimLeft(s[:i], "0123456789") != "" {
			return bad()
		}
		days, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || days > int64(maxDuration/(24*time.Hour)) {
			return 0, fmt.Errorf("duration %q is out of range", in)
		}
		total = time.Duration(days) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return sign(total, neg), nil
		}
	}
	if s == "" || s[0] == '-' || s[0] == '+' {
		return bad()
	}
	rest, err := time.ParseDuration(s)
	if err != nil {
		switch msg := err.Error(); {
		case strings.Contains(msg, "missing unit"):
			return 0, fmt.Errorf("invalid duration %q: missing unit (want e.g. 90s, 15m, 2h, 1d12h)", in)
		case strings.Contains(msg, "unknown unit"):
			return 0, fmt.Errorf("invalid duration %q: unknown unit (want ns, us, ms, s, m, h or d)", in)
		case strings.Contains(msg, "overflow"):
			return 0, fmt.Errorf("duration %q is out of range", in)
		}
		return bad()
	}
	if rest > maxDuration-total {
		return 0, fmt.Errorf("duration %q is out of range", in)
	}
	return sign(total+rest, neg), nil
}

const maxDuration = time.Duration(1<<63 - 1)

func sign(d time.Duration, neg bool) time.Duration {
	if neg {
		return -d
	}
	return d
}
