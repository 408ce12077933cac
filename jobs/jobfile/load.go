package jobfile

import (
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/tock-sched/tock/jobs"
)

// nodeBudgetBase is the least work spent on a document, counted in nodes
// visited with aliases expanded; the budget grows with the file (one node
// per byte: a document without aliases never reaches it), so only alias
// expansion ("billion laughs") can exhaust it. A variable for tests.
var nodeBudgetBase = 1 << 20

// Load reads and validates the config file at path. Validation problems
// are returned as a *ConfigError.
func Load(path string) (*jobs.Config, error) {
	data, err := Read(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Read reads the config file at path, refusing one larger than
// MaxConfigSize.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jobs: reading config: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxConfigSize {
		return nil, fmt.Errorf("jobs: reading config %s: larger than %d bytes", path, MaxConfigSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("jobs: reading config %s: %w", path, err)
	}
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("jobs: reading config %s: larger than %d bytes", path, MaxConfigSize)
	}
	return data, nil
}

// Parse validates a config file's contents; path is used in error messages
// and as jobs.Config.Path. Every problem found is reported in one
// *ConfigError.
func Parse(path string, data []byte) (*jobs.Config, error) {
	return parse(path, data, true)
}

// parse is Parse; stream false decodes the whole document at once, for
// tests that compare the two ways.
func parse(path string, data []byte, stream bool) (*jobs.Config, error) {
	d := &decoder{file: path, zones: map[string]*time.Location{}, budget: nodeBudgetBase + len(data)}
	cfg := d.parse(data, stream)
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(a, b int) bool {
			if d.errs[a].Line != d.errs[b].Line {
				return d.errs[a].Line < d.errs[b].Line
			}
			return d.errs[a].Column < d.errs[b].Column
		})
		return nil, &ConfigError{Errors: d.errs}
	}
	cfg.Path = path
	cfg.Seal()
	return cfg, nil
}
