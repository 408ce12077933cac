//go:build unix && !linux

package tockexec

import "syscall"

// jobSysProcAttr makes a job the leader of a new process group.
func jobSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
