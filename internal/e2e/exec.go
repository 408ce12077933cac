package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// FaultDefaults is the head of the fault runs' configs (ExecConfig, the
// chaos run's): every tick must run (concurrency allow, misfire run_all,
// catchup_window 1h) and two immediate retries run attempts lost to a fault
// again; the jobs list follows.
const FaultDefaults = `defaults:
  timezone: UTC
  timeout: 30s
  retries: 2
  retry_backoff: 0s
  concurrency: allow
  misfire: run_all
  catchup_window: 1h
jobs:
`

// ExecConfig returns a config of n jobs tick-00 … firing every second whose
// body records its own execution: it appends a "start" line to logPath
// before its work (a 1ms sleep) and an "end" line after it, each one short
// write to a file opened with O_APPEND, so lines of concurrent bodies on
// every replica never mix (see ParseExecLog for the format). The timestamp is
// the body's own reading of the wall clock: a replica's skewed clock (the
// tockfault build's TOCK_FAULT_CLOCK_OFFSET) does not reach its children, so
// every line is in true time, the time of MariaDB's NOW(6) on this machine.
// The jobs have concurrency allow, misfire run_all and catchup_window 1h (every
// tick must run) and two immediate retries, so attempts lost to a fault run
// again.
func ExecConfig(n int, logPath string) string {
	var b strings.Builder
	b.WriteString(FaultDefaults)
	script := ExecBody(logPath)
	q, _ := json.Marshal(script) // a YAML double-quoted scalar takes JSON escapes
	for i := range n {
		fmt.Fprintf(&b, "  - name: %s\n    schedule: \"* * * * * *\"\n    command: [\"bash\", \"-c\", %s]\n", TickJobName(i), q)
	}
	return b.String()
}

// ExecBody is the bash script of ExecConfig's jobs. It forks nothing, so
// that the body's start is as close to the process start as the machine
// allows: the time is bash's EPOCHREALTIME (microseconds) and the work is
// a 1ms busy loop on it. The replica is TOCK_NODE if tock passes it to
// jobs, else the harness's ReplicaEnvVar; the fence is TOCK_FENCE, "-"
// while tock passes none.
func ExecBody(logPath string) string {
	f := "'" + strings.ReplaceAll(logPath, "'", `'\''`) + "'"
	return `l="$TOCK_JOB $TOCK_SCHEDULED_AT $TOCK_RUN_ID $TOCK_ATTEMPT ${TOCK_FENCE:--} ${TOCK_NODE:-${` + ReplicaEnvVar + `:--}}"; ` +
		`t=${EPOCHREALTIME/,/.}; echo "start $l $t" >> ` + f + `; ` +
		`u=${t/./}; while (( ${EPOCHREALTIME//[.,]/} - u < 1000 )); do :; done; ` +
		`t=${EPOCHREALTIME/,/.}; echo "end $l $t" >> ` + f
}

// ExecLine is one line of an execution log: a body's start or end.
type ExecLine struct {
	// End is false for a start line.
	End         bool
	Job         string
	ScheduledAt time.Time
	RunID       int64
	Attempt     int
	// Fence is TOCK_FENCE, "" when the body had none.
	Fence string
	// Node is the replica the body ran on.
	Node string
	// At is the body's reading of the wall clock (true time).
	At time.Time
}

// ParseExecLog reads an execution log written by ExecConfig's bodies:
// "start|end JOB SCHEDULED_AT RUN_ID ATTEMPT FENCE NODE UNIX.MICROS" a line.
// A torn last line (a body killed mid-write) is skipped; any other line
// that does not parse is an error. A missing file is an empty log.
func ParseExecLog(path string) ([]ExecLine, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ExecLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var bad []string
	lastBad, n := 0, 0
	for sc.Scan() {
		n++
		l, err := parseExecLine(sc.Text())
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", n, err))
			lastBad = n
			continue
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// Each line is one write, so a body killed mid-way cannot tear one;
	// still, a last line cut short is skipped rather than fatal.
	if len(bad) > 1 || len(bad) == 1 && lastBad != n {
		return out, fmt.Errorf("execution log %s: %s", path, strings.Join(bad, "; "))
	}
	return out, nil
}

func parseExecLine(s string) (ExecLine, error) {
	f := strings.Fields(s)
	if len(f) != 8 || f[0] != "start" && f[0] != "end" {
		return ExecLine{}, fmt.Errorf("want 8 fields starting with start or end: %q", s)
	}
	l := ExecLine{End: f[0] == "end", Job: f[1], Node: f[6]}
	var err error
	if l.ScheduledAt, err = time.Parse(time.RFC3339, f[2]); err != nil {
		return ExecLine{}, fmt.Errorf("scheduled at: %w", err)
	}
	if l.RunID, err = strconv.ParseInt(f[3], 10, 64); err != nil {
		return ExecLine{}, fmt.Errorf("run id: %w", err)
	}
	if l.Attempt, err = strconv.Atoi(f[4]); err != nil {
		return ExecLine{}, fmt.Errorf("attempt: %w", err)
	}
	if f[5] != "-" {
		l.Fence = f[5]
	}
	if l.At, err = parseUnix(f[7]); err != nil {
		return ExecLine{}, fmt.Errorf("time: %w", err)
	}
	return l, nil
}

// parseUnix parses "SECONDS.FRACTION" (up to nanoseconds) exactly.
func parseUnix(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var nanos int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		frac += strings.Repeat("0", 9-len(frac))
		if nanos, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, err
		}
	}
	return time.Unix(secs, nanos), nil
}
