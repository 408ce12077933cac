//go:build linux

package tockexec

import "syscall"

// jobSysProcAttr makes a job the leader of a new process group that dies
// with tock-exec's serving thread (Pdeathsig): should tock-exec itself be
// SIGKILLed, no job leader outlives it.
func jobSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
