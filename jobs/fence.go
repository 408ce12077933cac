package jobs

import (
	"fmt"
	"strconv"
	"strings"
)

// Fence is the fencing token of one attempt: the leader epoch in force when
// the attempt was claimed, the run and the attempt number. tock hands it to
// the job (TOCK_FENCE, X-Tock-Fence; see executor.Options.Fence) so that
// whatever the job writes to can refuse a stale attempt.
//
// For one run, a later attempt always has a larger (Epoch, Attempt) pair,
// compared as numbers, Epoch first: attempt numbers only grow, and the
// epoch stamped on an attempt is never lower than the one stamped on an
// earlier attempt of the same run (Store.Claim reads it in the claim
// transaction, and the leader epoch only grows). A receiver that remembers,
// per run, the largest pair it accepted can therefore reject anything
// older ([Fence.Supersedes]). Tokens of different runs do not compare.
type Fence struct {
	// Epoch is the leader epoch in force when the attempt was claimed.
	Epoch int64
	// RunID is the run's id.
	RunID int64
	// Attempt is the attempt number, from 1.
	Attempt int
}

// Fence returns the fencing token of r's current attempt. It is meaningful
// on a run returned by Store.Claim or Store.ClaimMany, which set r.Epoch.
func (r Run) Fence() Fence {
	return Fence{Epoch: r.Epoch, RunID: r.ID, Attempt: r.Attempt}
}

// IsZero reports whether f is the zero Fence (no attempt).
func (f Fence) IsZero() bool { return f == Fence{} }

// String formats f as "<epoch>.<run>.<attempt>" in decimal, e.g. "7.4711.2";
// ParseFence reads it back.
func (f Fence) String() string {
	return strconv.FormatInt(f.Epoch, 10) + "." + strconv.FormatInt(f.RunID, 10) + "." + strconv.Itoa(f.Attempt)
}

// Supersedes reports whether f belongs to a later attempt of the same run
// than g: same RunID and (f.Epoch, f.Attempt) greater than (g.Epoch,
// g.Attempt), Epoch compared first. It is false for tokens of different
// runs and for equal tokens.
func (f Fence) Supersedes(g Fence) bool {
	if f.RunID != g.RunID {
		return false
	}
	if f.Epoch != g.Epoch {
		return f.Epoch > g.Epoch
	}
	return f.Attempt > g.Attempt
}

// ParseFence reads a fencing token as Fence.String writes it: three
// non-negative decimal numbers separated by dots, no sign, no spaces.
func ParseFence(s string) (Fence, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Fence{}, fmt.Errorf("jobs: fence %q: want <epoch>.<run>.<attempt>", s)
	}
	var nums [3]int64
	for i, p := range parts {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return Fence{}, fmt.Errorf("jobs: fence %q: %q is not a decimal number", s, p)
		}
		bits := 64
		if i == 2 {
			bits = strconv.IntSize
		}
		n, err := strconv.ParseInt(p, 10, bits)
		if err != nil {
			return Fence{}, fmt.Errorf("jobs: fence %q: %q is out of range", s, p)
		}
		nums[i] = n
	}
	return Fence{Epoch: nums[0], RunID: nums[1], Attempt: int(nums[2])}, nil
}

// IdempotencyKey is the idempotency key of a run: "tock-run-<id>". It is the
// same for every attempt of the run, so a receiver that keys its side
// effects on it performs them once however often the run is retried; tock
// sends it as the Idempotency-Key header and TOCK_IDEMPOTENCY_KEY.
func IdempotencyKey(runID int64) string {
	return "tock-run-" + strconv.FormatInt(runID, 10)
}
