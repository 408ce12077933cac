//go:build unix && !linux

package executor

import "syscall"

// supervisorSysProcAttr puts tock-exec in a process group of its own; it
// learns of tock's death from its socket's end of file.
func supervisorSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
