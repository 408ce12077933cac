package executor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// SupervisorEnv names the path of tock-exec, overriding the search
// FindSupervisor does.
const SupervisorEnv = "TOCK_EXEC"

// SupervisorName is the file name of tock's process supervisor.
const SupervisorName = "tock-exec"

// FindSupervisor returns the path of tock-exec, the supervisor command and
// shell jobs run under: $TOCK_EXEC when set, else the tock-exec beside the
// running executable, else the first on PATH. Its absence is an error that
// says where it looked.
func FindSupervisor() (string, error) {
	if p := os.Getenv(SupervisorEnv); p != "" {
		if err := isExecutable(p); err != nil {
			return "", fmt.Errorf("jobs: %s=%s: %v", SupervisorEnv, p, err)
		}
		return p, nil
	}
	exe, err := os.Executable()
	if err == nil {
		p := filepath.Join(filepath.Dir(exe), SupervisorName)
		if isExecutable(p) == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(SupervisorName); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("jobs: %s, the supervisor command and shell jobs run under, is neither beside %s nor on PATH: install it with tock (go build -o DIR/ ./cmd/tock ./cmd/tock-exec), or set %s to its path", SupervisorName, exe, SupervisorEnv)
}

func isExecutable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("is a directory")
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("not executable")
	}
	return nil
}

var (
	defaultMu  sync.Mutex
	defaultSup *Supervisor
)

// DefaultSupervisor returns the process's shared supervisor, found by
// FindSupervisor on first use (and looked for again after a failure, so
// that installing tock-exec fixes a running tock).
func DefaultSupervisor() (*Supervisor, error) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultSup != nil {
		return defaultSup, nil
	}
	p, err := FindSupervisor()
	if err != nil {
		return nil, err
	}
	defaultSup = NewSupervisor(p)
	return defaultSup, nil
}
