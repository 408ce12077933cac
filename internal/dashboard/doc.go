// Package dashboard is tock's web dashboard, served at /: server-rendered
// html/template pages (jobs, runs with filters, run detail with output,
// cluster) and one embedded stylesheet; one small script (static/live.js)
// follows a running attempt's output on its run page over the API's event
// stream (api.LogStreams). It works without JavaScript; its
// buttons are HTML forms protected by a CSRF token and, when an API token is
// configured, by a login that sets an HttpOnly session cookie.
//
// It must not hold operational logic: every page and action calls the same
// api.Service the REST API calls.
package dashboard
