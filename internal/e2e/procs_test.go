package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFreeAddr(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeAddr = %q (%v), want 127.0.0.1:PORT", addr, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	l.Close()
}

func TestStartProcStop(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "proc.log")
	p, err := StartProc(copyBinary(t, dir), log, "60")
	if err != nil {
		t.Fatal(err)
	}
	if p.LogPath != log || !ProcessAlive(p.Pid()) {
		t.Fatalf("LogPath %q, pid %d alive %v", p.LogPath, p.Pid(), ProcessAlive(p.Pid()))
	}
	p.Stop(10 * time.Second) // sleep dies of SIGTERM
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := p.Signal(syscall.SIGHUP); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after the exit: %v, want os.ErrProcessDone", err)
	}
}

const testLog = `=== e2e: start #1 of node-1
{"time":"2026-01-01T00:00:01Z","level":"INFO","msg":"schedule loaded","jobs":2,"term_start":true}
{"time":"2026-01-01T00:00:02Z","level":"INFO","msg":"attempt started","job":"a","run_id":7,"attempt":1,"fire_delay":"1.5ms","node":"node-1"}
not json
{"time":"2026-01-01T00:00:03Z","level":"INFO","msg":"schedule loaded","jobs":3,"term_start":false}
{"time":"2026-01-01T00:00:04Z","level":"INFO","msg":"attempt started","job":"b","run_id":8,"attempt":2,"fire_delay":"2s"}
`

func writeTestLog(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node-1.log")
	if err := os.WriteFile(path, []byte(testLog), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScanLogEvents(t *testing.T) {
	path := writeTestLog(t)
	var got []string
	err := ScanLogEvents(path, "node-1", func(ev LogEvent) bool {
		got = append(got, ev.Replica+" "+ev.Job+" "+ev.FireDelay.String())
		return true
	}, MsgAttemptStarted)
	if err != nil {
		t.Fatal(err)
	}
	if want := "node-1 a 1.5ms|node-1 b 2s"; strings.Join(got, "|") != want {
		t.Errorf("events %q, want %q", strings.Join(got, "|"), want)
	}
	n := 0
	if err := ScanLogEvents(path, "", func(LogEvent) bool { n++; return false }); err != nil || n != 1 {
		t.Errorf("a scan stopped by f saw %d events (%v), want 1", n, err)
	}
	all, err := ReadLogEvents(path, "node-1")
	if err != nil || len(all) != 4 {
		t.Errorf("ReadLogEvents: %d events (%v), want the 4 JSON lines", len(all), err)
	}
}

func TestFindLogEvent(t *testing.T) {
	path := writeTestLog(t)
	at := func(s int) time.Time { return time.Date(2026, 1, 1, 0, 0, s, 0, time.UTC) }
	for _, tc := range []struct {
		name     string
		from     time.Time
		contains []string
		want     time.Time // zero: none
	}{
		{"first", time.Time{}, nil, at(1)},
		{"from", at(2), nil, at(3)},
		{"contains", time.Time{}, []string{`"term_start":false`}, at(3)},
		{"none after", at(4), nil, time.Time{}},
	} {
		ev, ok, err := FindLogEvent(path, MsgScheduleLoaded, tc.from, tc.contains...)
		if err != nil || ok != !tc.want.IsZero() || !ev.Time.Equal(tc.want) {
			t.Errorf("%s: %v %v %v, want %v", tc.name, ev.Time, ok, err, tc.want)
		}
	}
	if _, ok, err := FindLogEvent(filepath.Join(t.TempDir(), "none.log"), MsgScheduleLoaded, time.Time{}); ok || err != nil {
		t.Errorf("a missing log: %v %v, want nothing and no error", ok, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ev, err := WaitLogEvent(ctx, path, MsgAttemptStarted, at(3)); err != nil || ev.Job != "b" {
		t.Errorf("WaitLogEvent: %+v %v, want job b", ev, err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := WaitLogEvent(ctx, path, MsgAttemptStarted, at(5)); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitLogEvent past the log's end: %v, want context.Canceled", err)
	}
}
