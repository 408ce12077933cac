// Package storage defines the interfaces tock keeps its state behind — the
// Store (run history, the truth), the Queue (a doorbell) and the Lease
// (leader election) — and the errors every implementation translates its
// driver errors to. Implementations live in sub-packages; no driver type
// crosses these interfaces.
package storage
