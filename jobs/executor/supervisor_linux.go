//go:build linux

package executor

import "syscall"

// supervisorSysProcAttr puts tock-exec in a process group of its own (a
// terminal's ^C is tock's to handle, not its) and has the kernel send it
// SIGTERM when tock dies.
func supervisorSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
