package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes its servers and idle connections: no goroutine stays.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
