// Package peers runs the peer side of tock's benchmark (issue 5): the same
// fire-latency and schedule-scale scenarios the tock scenarios run, on
// robfig/cron v3's own runner, gocron v2 with a Redis locker and asynq v0.26,
// each measured in this process and returned as stats.Fire or stats.Scale.
//
// Every function owns what it starts: schedulers, servers, pools and their
// goroutines are stopped before it returns, and the Redis keys or database it
// used are cleaned up. It must not import tock's packages: the peers are
// measured as their users would run them, not through tock's abstractions.
//
// The scenarios measure wall-clock behaviour and the whole process's CPU and
// heap, so they must run one at a time.
package peers
