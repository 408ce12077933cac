//go:build !unix

package tockexec

import (
	"os"
	"runtime"
)

// Main refuses: process groups are built on unix process semantics.
func Main([]string) int {
	_, _ = os.Stderr.WriteString("tock-exec: needs a unix system, not " + runtime.GOOS + "\n")
	return 127
}
