//go:build unix && !linux

package executor

import (
	"syscall"
	"time"
)

// parentPollInterval is how often the shim checks that tock is alive where
// the kernel has no Pdeathsig.
const parentPollInterval = time.Second

// groupSysProcAttr puts the shim (and so the job) in a new process group;
// the shim polls for tock's death instead of a Pdeathsig.
func groupSysProcAttr(bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// groupHasLiving reports whether process group pgid has a member; zombies
// count, as this system offers no cheap way to tell them apart.
func groupHasLiving(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}
