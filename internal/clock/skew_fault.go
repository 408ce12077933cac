//go:build tockfault

package clock

import (
	"fmt"
	"os"
	"time"
)

// FaultSkewEnv names the variable a tockfault build reads its clock offset
// from, e.g. TOCK_FAULT_CLOCK_OFFSET=-3s.
const FaultSkewEnv = "TOCK_FAULT_CLOCK_OFFSET"

func init() {
	v := os.Getenv(FaultSkewEnv)
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		panic(fmt.Sprintf("clock: %s=%q: %v", FaultSkewEnv, v, err))
	}
	faultSkew = d
}
