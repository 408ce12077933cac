//go:build !race

package storetest

// raceEnabled reports whether the race detector is on; timings under it
// mean nothing and take long.
const raceEnabled = false
