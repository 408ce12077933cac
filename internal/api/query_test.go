package api

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

func TestParseRunQuery(t *testing.T) {
	t.Parallel()
	now := t0
	for _, tc := range []struct {
		q     string
		want  storage.RunFilter
		param string // the parameter a 400 names; empty when valid
	}{
		{q: "", want: storage.RunFilter{Limit: DefaultRunLimit}},
		{q: "job=backup&status=failed&trigger=manual&limit=1000", want: storage.RunFilter{Job: "backup", Status: jobs.StatusFailed, Trigger: jobs.TriggerManual, Limit: 1000}},
		{q: "job=&status=", want: storage.RunFilter{Limit: DefaultRunLimit}},
		{q: "since=24h", want: storage.RunFilter{Since: now.Add(-24 * time.Hour), Limit: DefaultRunLimit}},
		{q: "since=7d&until=1d12h", want: storage.RunFilter{Since: now.Add(-7 * 24 * time.Hour), Until: now.Add(-36 * time.Hour), Limit: DefaultRunLimit}},
		{q: "since=2026-11-01T00:00:00%2B01:00", want: storage.RunFilter{Since: time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC), Limit: DefaultRunLimit}},
		{q: "since=100000d", want: storage.RunFilter{Since: time.Unix(0, 0).UTC(), Limit: DefaultRunLimit}},
		{q: "job=Backup", param: "job"},
		{q: "job=a%20b", param: "job"},
		{q: "job=" + strings.Repeat("a", 201), param: "job"},
		{q: "status=done", param: "status"},
		{q: "trigger=cron", param: "trigger"},
		{q: "since=yesterday", param: "since"},
		{q: "since=-1h", param: "since"},
		{q: "until=0001-01-01T00:00:00Z", param: "until"},
		{q: "since=1h&until=2h", param: "since"},
		{q: "limit=0", param: "limit"},
		{q: "limit=1001", param: "limit"},
		{q: "limit=ten", param: "limit"},
		{q: "cursor=abc", param: "cursor"},
		{q: "stauts=failed", param: "stauts"},
		{q: "job=a&job=b", param: "job"},
	} {
		v, err := url.ParseQuery(tc.q)
		if err != nil {
			t.Fatalf("bad test query %q: %v", tc.q, err)
		}
		got, err := ParseRunQuery(v, now)
		if tc.param != "" {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || e.Param != tc.param || !strings.HasPrefix(e.Msg, tc.param+": ") {
				t.Errorf("ParseRunQuery(%q) error = %v, want a 400 naming %s", tc.q, err, tc.param)
			}
			if len(err.Error()) > 300 {
				t.Errorf("ParseRunQuery(%q) error echoes too much: %d bytes", tc.q, len(err.Error()))
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRunQuery(%q): %v", tc.q, err)
			continue
		}
		if got.Job != tc.want.Job || got.Status != tc.want.Status || got.Trigger != tc.want.Trigger || got.Limit != tc.want.Limit ||
			!got.Since.Equal(tc.want.Since) || !got.Until.Equal(tc.want.Until) || got.Before != nil {
			t.Errorf("ParseRunQuery(%q) = %+v, want %+v", tc.q, got, tc.want)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []storage.Cursor{
		{ScheduledAt: t0, ID: 1},
		{ScheduledAt: time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC), ID: 1 << 50},
		{ScheduledAt: time.Unix(0, 0).UTC(), ID: 7},
	} {
		tok := EncodeCursor(c)
		got, err := DecodeCursor(tok)
		if err != nil || !got.ScheduledAt.Equal(c.ScheduledAt) || got.ID != c.ID {
			t.Errorf("DecodeCursor(EncodeCursor(%+v)) = %+v, %v", c, got, err)
		}
		v := url.Values{"cursor": {tok}}
		f, err := ParseRunQuery(v, t0)
		if err != nil || f.Before == nil || f.Before.ID != c.ID {
			t.Errorf("ParseRunQuery(cursor=%s) = %+v, %v", tok, f, err)
		}
	}
	for _, bad := range []string{"", "v1.", "v1.!!", "v2.MTIz", "v1." + b64("123"), "v1." + b64("x.1"), "v1." + b64("1.0"), "v1." + b64("1.-3"), "v1." + strings.Repeat("A", 100)} {
		if _, err := DecodeCursor(bad); err == nil {
			t.Errorf("DecodeCursor(%q) accepted", bad)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestParseRunID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s  string
		id int64
	}{{"1", 1}, {"4711", 4711}, {"0", 0}, {"-1", 0}, {"+1", 0}, {"1e3", 0}, {"9223372036854775808", 0}, {"", 0}} {
		id, err := ParseRunID("id", tc.s)
		if (err == nil) != (tc.id != 0) || id != tc.id {
			t.Errorf("ParseRunID(%q) = %d, %v", tc.s, id, err)
		}
	}
}
