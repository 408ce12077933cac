//go:build tockfault

package clock

import (
	"testing"
	"time"
)

func TestFaultSkewShiftsReal(t *testing.T) {
	old := faultSkew
	defer func() { faultSkew = old }()
	faultSkew = 3 * time.Second
	if d := (Real{}).Now().Sub(time.Now()); d < 2900*time.Millisecond || d > 3100*time.Millisecond {
		t.Fatalf("skewed Real is %s off time.Now, want 3s", d)
	}
}
