//go:build !unix

package executor

// Supervisor stands for tock-exec where it cannot run: command and shell
// jobs need a unix system.
type Supervisor struct{ path string }

// NewSupervisor returns a Supervisor that runs the tock-exec at path.
func NewSupervisor(path string) *Supervisor { return &Supervisor{path: path} }

// Close does nothing.
func (s *Supervisor) Close() error { return nil }
