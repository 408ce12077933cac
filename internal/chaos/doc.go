// Package chaos runs a tock cluster for a long time under randomised faults —
// kill -9 and SIGTERM of replicas (the leader more often than not), lost
// Redis contents, Redis restarts, MariaDB restarts — and then audits the
// history: ticks expected, runs, duplicates, missed ticks, silently missing
// ticks, lost attempts recovered, failovers and the longest failover.
//
// It starts its own redis-server and its own MariaDB server (a fresh data
// directory, a free port), so it can restart them without disturbing anyone
// else's services on the machine. It drives the replicas through the e2e
// harness and judges them only by what the store recorded; it must not
// change tock's behaviour or touch services it did not start.
package chaos
