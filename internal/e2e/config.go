package e2e

import (
	"fmt"
	"strings"
)

// TickJobName is the name of tick job i in TickConfig.
func TickJobName(i int) string { return fmt.Sprintf("tick-%02d", i) }

// TickConfig returns a config of n jobs tick-00 … firing every second
// (6-field spec) and running `true`, with concurrency allow, misfire run_all
// and catchup_window 1h — so every tick must become a run — and one
// immediate retry, so an attempt lost with its replica is run again. extra
// is appended to the jobs list verbatim (YAML list items indented by two
// spaces).
func TickConfig(n int, extra string) string {
	var b strings.Builder
	b.WriteString(`defaults:
  timezone: UTC
  timeout: 30s
  retries: 1
  retry_backoff: 0s
  concurrency: allow
  misfire: run_all
  catchup_window: 1h
jobs:
`)
	for i := range n {
		fmt.Fprintf(&b, "  - name: %s\n    schedule: \"* * * * * *\"\n    command: [\"true\"]\n", TickJobName(i))
	}
	b.WriteString(extra)
	return b.String()
}
