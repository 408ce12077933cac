// Package e2e runs real tock replicas — separate `tock run` processes on
// loopback, sharing one MySQL database and one Redis cluster prefix — and
// checks the distributed invariants (docs/design.md#invariants) from the
// outside: kill -9 and SIGTERM of the leader, lost Redis keys, a worker
// killed mid-attempt, a cluster shrunk to one replica, forged queue entries.
//
// The exported harness (Cluster, BuildTock, Audit; StartProc for one
// process outside a cluster; FreeAddr; ReadLogEvents, FindLogEvent and
// WaitLogEvent for the replicas' JSON logs) is the one process harness of
// tock: the chaos tool (internal/chaos) and the benchmark (bench/) use it
// too. It only drives processes and reads the store through the
// storage.Store interface; it must not reach into a replica's memory,
// import a driver, or change what it measures: every figure comes from
// history rows in the store, from the replicas' own JSON logs, or from the
// job bodies' own record of their executions.
//
// The fault kit (faults.go) builds on it: per-replica fault proxies
// (internal/faultproxy) between each replica and Redis and MariaDB,
// Freeze/Thaw (SIGSTOP/SIGCONT), a replica clock skewed by the tockfault
// build (BuildTockWith, FaultTag), job bodies that log their start and end
// (ExecConfig), and an execution audit (AuditExecutions) of those lines
// against history. RunFault runs one named scenario (FaultScenarios); the
// default suite runs short versions (faults_test.go), `make faults` all of
// them (internal/chaos/cmd/tock-chaos -scenario).
package e2e
