// Command stamp is the body of make bench's command jobs, the same program
// for tock and for its peers: `stamp FILE NAME` appends "NAME UNIXNANO\n"
// to FILE, stamped the moment the process runs (one write, under
// PIPE_BUF, so concurrent stamps do not interleave).
package main

import (
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	now := time.Now().UnixNano()
	if len(os.Args) != 3 {
		os.Stderr.WriteString("usage: stamp FILE NAME\n")
		os.Exit(2)
	}
	fd, err := syscall.Open(os.Args[1], syscall.O_WRONLY|syscall.O_APPEND|syscall.O_CREAT|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		os.Stderr.WriteString("stamp: " + err.Error() + "\n")
		os.Exit(1)
	}
	line := os.Args[2] + " " + strconv.FormatInt(now, 10) + "\n"
	if _, err := syscall.Write(fd, []byte(line)); err != nil {
		os.Stderr.WriteString("stamp: " + err.Error() + "\n")
		os.Exit(1)
	}
}
