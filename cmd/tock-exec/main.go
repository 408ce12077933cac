// Command tock-exec is tock's process supervisor: each tock process starts
// one, which starts tock's command and shell jobs, each in a process group
// of its own, and kills those groups if tock dies (package
// internal/tockexec). It is installed beside tock; nobody runs it by hand.
package main

import (
	"os"

	"github.com/tock-sched/tock/internal/tockexec"
)

func main() {
	os.Exit(tockexec.Main(os.Args[1:]))
}
