package browsertest

import (
	"testing"

	"github.com/tock-sched/tock/internal/tockexec/tockexectest"
)

// The replica's worker runs its command and shell jobs under tock-exec.
func TestMain(m *testing.M) { tockexectest.VerifyTestMain(m) }
