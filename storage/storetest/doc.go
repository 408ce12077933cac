// Package storetest is the conformance suite of storage.Store: RunSuite
// checks every method's contract (I1 one row per tick, I2 fencing, I4
// exactly-once claim, I5 reaping, I6 one transaction per change, I7 job and
// digest checks, filters, keyset pagination, hostile input) against any
// implementation, and logs a Dispatch timing unless -short or -race.
//
// It is imported by tests only. Time is passed explicitly to the store, so
// nothing here sleeps or reads the clock except the timing.
package storetest
