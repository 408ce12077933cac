package jobs_test

import (
	"strings"
	"testing"

	"github.com/tock-sched/tock/jobs"
)

func TestFenceString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f    jobs.Fence
		want string
	}{
		{jobs.Fence{}, "0.0.0"},
		{jobs.Fence{Epoch: 7, RunID: 4711, Attempt: 2}, "7.4711.2"},
		{jobs.Fence{Epoch: 1 << 62, RunID: 1<<63 - 1, Attempt: 1}, "4611686018427387904.9223372036854775807.1"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.f, got, tt.want)
		}
		back, err := jobs.ParseFence(tt.want)
		if err != nil || back != tt.f {
			t.Errorf("ParseFence(%q) = (%#v, %v), want (%#v, nil)", tt.want, back, err, tt.f)
		}
	}
}

func TestParseFenceRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "1", "1.2", "1.2.3.4", "1..3", ".2.3", "1.2.", "a.2.3", "1.2.x",
		"-1.2.3", "+1.2.3", " 1.2.3", "1.2.3 ", "1,2,3", "1.2.3\n",
		"9223372036854775808.1.1", // epoch overflows int64
		"1.9223372036854775808.1",
		"1.1.99999999999999999999",
	} {
		if f, err := jobs.ParseFence(s); err == nil {
			t.Errorf("ParseFence(%q) = %#v, want an error", s, f)
		} else if !strings.HasPrefix(err.Error(), "jobs: fence ") {
			t.Errorf("ParseFence(%q) error %q does not name the fence", s, err)
		}
	}
}

func TestFenceSupersedes(t *testing.T) {
	t.Parallel()
	f := func(epoch int64, run int64, attempt int) jobs.Fence {
		return jobs.Fence{Epoch: epoch, RunID: run, Attempt: attempt}
	}
	tests := []struct {
		a, b jobs.Fence
		want bool
	}{
		{f(1, 5, 2), f(1, 5, 1), true},  // later attempt, same epoch
		{f(2, 5, 2), f(1, 5, 1), true},  // later attempt under a new leader
		{f(2, 5, 1), f(1, 5, 1), true},  // epoch first
		{f(1, 5, 1), f(1, 5, 2), false}, // earlier attempt
		{f(1, 5, 3), f(2, 5, 2), false}, // epoch first: the lower epoch loses
		{f(1, 5, 1), f(1, 5, 1), false}, // equal
		{f(9, 6, 9), f(1, 5, 1), false}, // other run: no order
	}
	for _, tt := range tests {
		if got := tt.a.Supersedes(tt.b); got != tt.want {
			t.Errorf("%s.Supersedes(%s) = %t, want %t", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRunFenceAndIdempotencyKey(t *testing.T) {
	t.Parallel()
	r := jobs.Run{ID: 42, Attempt: 3, Epoch: 9}
	if got, want := r.Fence(), (jobs.Fence{Epoch: 9, RunID: 42, Attempt: 3}); got != want {
		t.Errorf("Run.Fence() = %#v, want %#v", got, want)
	}
	if !(jobs.Fence{}).IsZero() || r.Fence().IsZero() {
		t.Error("IsZero is wrong")
	}
	if got := jobs.IdempotencyKey(42); got != "tock-run-42" {
		t.Errorf("IdempotencyKey(42) = %q", got)
	}
}

// FuzzParseFence checks that ParseFence never panics and that what it
// accepts is exactly what String writes.
func FuzzParseFence(f *testing.F) {
	for _, s := range []string{"1.2.3", "0.0.0", "01.2.3", "-1.2.3", "1.2", "9223372036854775807.1.1", "1.2.3.4", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fence, err := jobs.ParseFence(s)
		if err != nil {
			return
		}
		if fence.Epoch < 0 || fence.RunID < 0 || fence.Attempt < 0 {
			t.Fatalf("ParseFence(%q) = %#v: negative part", s, fence)
		}
		again, err := jobs.ParseFence(fence.String())
		if err != nil || again != fence {
			t.Fatalf("ParseFence(%q) = %#v, but its String %q reads back as (%#v, %v)", s, fence, fence.String(), again, err)
		}
	})
}
