// Package api is tock's REST API under /api/v1 and the operations it serves
// (Service), which the web dashboard calls too: jobs with their pause state,
// next fire and last run; run history with filters and a keyset cursor; run
// detail, trigger, pause, resume, cancel; the cluster's nodes and leader;
// readiness. It also holds the bearer-token check (Auth) and the OpenAPI 3
// document that describes every route.
//
// It must not schedule or run anything itself: it reads and changes state
// only through storage.Store (manual triggers, pause flags, cancel requests)
// and wakes the local scheduler so the leader acts at once. Store and driver
// error text never reaches a client; it is logged instead.
package api
