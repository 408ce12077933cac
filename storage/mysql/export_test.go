package mysql

// ParseURL exposes parseURL to the external tests.
var ParseURL = parseURL

// SetReadCommitted exposes setReadCommitted to the external tests.
var SetReadCommitted = setReadCommitted

// SetSessionIdleTimeout exposes setSessionIdleTimeout to the external tests.
var SetSessionIdleTimeout = setSessionIdleTimeout
