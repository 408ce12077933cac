package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/tock-sched/tock/storage"
)

var (
	errBusy = errors.New("database is busy")
	errDup  = errors.New("duplicate entry")
)

func testStore() *Store {
	return &Store{log: slog.New(slog.DiscardHandler), d: Dialect{Name: "test", Classify: func(err error) ErrorKind {
		switch {
		case errors.Is(err, errBusy):
			return KindTransient
		case errors.Is(err, errDup):
			return KindDuplicate
		}
		return KindOther
	}}}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		failures  int
		err       error
		wantCalls int
		wantErr   error
	}{
		{"success", 0, nil, 1, nil},
		{"transient then success", 3, errBusy, 4, nil},
		{"transient every time", 100, errBusy, maxTxTries, errBusy},
		{"not transient", 100, errDup, 1, storage.ErrDuplicate},
		{"sentinel", 100, storage.ErrFenced, 1, storage.ErrFenced},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := testStore().retry(t.Context(), "doing it", func() error {
				calls++
				if calls <= tc.failures {
					return fmt.Errorf("wrapped: %w", tc.err)
				}
				return nil
			})
			if calls != tc.wantCalls {
				t.Errorf("op called %d times, want %d", calls, tc.wantCalls)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("retry = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	err := testStore().retry(ctx, "doing it", func() error {
		calls++
		cancel()
		return errBusy
	})
	if calls != 1 || !errors.Is(err, errBusy) {
		t.Fatalf("retry after cancel: %d calls, %v; want 1 call and the transient error", calls, err)
	}
}

func TestTranslate(t *testing.T) {
	t.Parallel()
	s := testStore()
	for _, tc := range []struct {
		in   error
		want error
		msg  string
	}{
		{sql.ErrNoRows, storage.ErrNotFound, "reading run 7: storage: not found"},
		{fmt.Errorf("x: %w", storage.ErrLeaseLost), storage.ErrLeaseLost, "reading run 7: x: storage: lease lost"},
		{errDup, storage.ErrDuplicate, "reading run 7: storage: duplicate: duplicate entry"},
		{errBusy, errBusy, "reading run 7: database is busy"},
	} {
		got := s.translate("reading run 7", tc.in)
		if !errors.Is(got, tc.want) || got.Error() != tc.msg {
			t.Errorf("translate(%v) = %q, want %q wrapping %v", tc.in, got, tc.msg, tc.want)
		}
	}
}

func TestDBTimeScan(t *testing.T) {
	t.Parallel()
	want := time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC)
	for _, src := range []any{want.UnixMicro(), want.In(time.FixedZone("X", 7200)), []byte("2031-03-04 05:06:07.123456"), "2031-03-04 05:06:07.123456"} {
		var d dbTime
		if err := d.Scan(src); err != nil || !d.Valid || !d.T.Equal(want) || d.T.Location() != time.UTC {
			t.Errorf("Scan(%T %v) = %v %t %v, want %v in UTC", src, src, d.T, d.Valid, err, want)
		}
	}
	var d dbTime
	if err := d.Scan(nil); err != nil || d.Valid || d.ptr() != nil {
		t.Errorf("Scan(nil) = %+v, %v; want invalid", d, err)
	}
	for _, src := range []any{3.5, "yesterday"} {
		if err := d.Scan(src); err == nil {
			t.Errorf("Scan(%v) succeeded, want an error", src)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"ok ✓": "ok ✓", "a\xffb": "a\uFFFDb", "": ""} {
		if got := text(in); got != want {
			t.Errorf("text(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChunks(t *testing.T) {
	t.Parallel()
	var got [][2]int
	if err := chunks(1001, 500, func(lo, hi int) error { got = append(got, [2]int{lo, hi}); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[[0 500] [500 1000] [1000 1001]]" {
		t.Fatalf("chunks(1001, 500) = %v", got)
	}
	if err := chunks(0, 500, func(int, int) error { t.Fatal("called for 0 rows"); return nil }); err != nil {
		t.Fatal(err)
	}
}
