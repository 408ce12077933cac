// Package redact hides the secrets a URL may carry (the password of its
// user info) before the URL goes into a message or a log line. It is shared
// by everything that names a store or Redis URL: the replica's wiring, the
// MySQL store and the test helpers.
//
// It only rewrites strings; it must not parse URLs for any other purpose.
package redact
