//go:build !unix

package executor

// Supervisor stands for tock-exec where it cannot run: command and shell
// jobs need a unix system.
type Supervisor struct{ path string }

// NewSupervisor returns a Supervisor that runs the tock-exec at path.
func NewSupervisor(path string) *Supervisor { return &Supervisor{path: path} }

// NewSupervisorN is NewSupervisor.
func NewSupervisorN(path string, _ int) *Supervisor { return NewSupervisor(path) }

// Close does nothing.
func (s *Supervisor) Close() error { return nil }
