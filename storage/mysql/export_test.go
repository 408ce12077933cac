package mysql

import "context"

// ParseURL exposes parseURL to the external tests.
var ParseURL = parseURL

// ProbeServer exposes probeServer to the external tests.
var ProbeServer = probeServer

// MariaDBReturning exposes mariaDBReturning to the external tests.
var MariaDBReturning = mariaDBReturning

// SetSessionIdleTimeout exposes setSessionIdleTimeout to the external tests.
var SetSessionIdleTimeout = setSessionIdleTimeout

// OpenWithoutReturning opens a store that reads inserted ids back with a
// SELECT, as on MySQL, whatever the server can do.
func OpenWithoutReturning(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	return open(ctx, rawURL, opts, false)
}
