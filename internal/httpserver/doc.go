// Package httpserver assembles tock's HTTP surface into one server: the REST
// API and health endpoints (internal/api), Prometheus metrics, and the web
// dashboard (internal/dashboard), behind the protections every route shares:
// a per-client rate limit, a request body cap, cross-origin refusal of
// state-changing browser requests, panic recovery, and server timeouts.
//
// It must not hold API or dashboard logic, and it owns exactly one goroutine
// (the serve loop), which Stop waits for.
package httpserver
