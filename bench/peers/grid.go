package peers

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// minLead is the least time between the end of a scenario's setup and its
// first measured tick, so that every job is scheduled before that tick.
const minLead = 250 * time.Millisecond

// errPeriod is returned for periods the second-grid cron specs cannot express.
var errPeriod = errors.New("peers: period must be a whole number of seconds dividing 60, or 60 s")

// secondsSpec returns the 6-field cron spec (seconds first) firing every
// period on the period grid.
func secondsSpec(period time.Duration) (string, error) {
	if period <= 0 || period%time.Second != 0 {
		return "", fmt.Errorf("%w: %v", errPeriod, period)
	}
	s := int(period / time.Second)
	switch {
	case s == 60:
		return "0 * * * * *", nil
	case s < 60 && 60%s == 0:
		return fmt.Sprintf("*/%d * * * * *", s), nil
	}
	return "", fmt.Errorf("%w: %v", errPeriod, period)
}

// checkFireArgs validates the arguments shared by the fire scenarios.
func checkFireArgs(n int, period time.Duration, ticks int) error {
	if n <= 0 {
		return fmt.Errorf("peers: n must be positive, got %d", n)
	}
	if ticks <= 0 {
		return fmt.Errorf("peers: ticks must be positive, got %d", ticks)
	}
	_, err := secondsSpec(period)
	return err
}

// window returns the first grid instant at least minLead after now and the
// end of ticks periods from it: the measured ticks are [from, to).
func window(now time.Time, period time.Duration, ticks int) (from, to time.Time) {
	from = now.Add(minLead).Truncate(period)
	if from.Before(now.Add(minLead)) {
		from = from.Add(period)
	}
	return from, from.Add(time.Duration(ticks) * period)
}

// stopAt is when a fire scenario stops its runner: half a period after the
// last measured tick, when that tick's runs have started and the next tick
// is still half a period away.
func stopAt(to time.Time, period time.Duration) time.Time {
	return to.Add(-period / 2)
}

// sleepUntil blocks until t or until ctx is done.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
