//go:build !unix

package sqlite

import "context"

// lockFile takes no lock where flock is missing: the embedded store serves
// one process there, and a CLI migrating at the same moment may fail once.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
