package worker

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
)

// probeEvery is how often, while polling, the pool asks the queue whether
// it answers again; probeTimeout bounds that question, so that a queue
// that does not answer at all (a blackholed link) costs the poll loop
// little.
const (
	probeEvery   = 2 * time.Second
	probeTimeout = 250 * time.Millisecond
)

// pollState is claiming without doorbells: set when a pop failed, until
// the queue answers a probe. drain asks for one more poll after that, for
// the runs queued while no doorbell could ring.
type pollState struct {
	on        bool
	since     time.Time
	lastProbe time.Time
	drain     bool
}

// queueDown switches to polling after a failed pop.
func (p *Pool) queueDown(err error) {
	if p.poll.on {
		return
	}
	now := p.opts.Clock.Now()
	p.poll = pollState{on: true, since: now, lastProbe: now}
	p.log.Warn("queue unreachable: claiming due runs from the store", slog.Duration("every", p.opts.PollInterval), slog.Any("error", err))
	if p.opts.Events.Polling != nil {
		p.opts.Events.Polling(true)
	}
}

// pollFirst says whether this round claims from the store instead of
// popping: while polling, until a probe finds the queue answering, and once
// more after that.
func (p *Pool) pollFirst(ctx context.Context) bool {
	if p.poll.drain {
		p.poll.drain = false
		return true
	}
	if !p.poll.on {
		return false
	}
	now := p.opts.Clock.Now()
	if now.Sub(p.poll.lastProbe) < probeEvery {
		return true
	}
	p.poll.lastProbe = now
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	_, err := p.opts.Queue.Len(pctx)
	cancel()
	if err != nil {
		return true
	}
	p.log.Info("queue answers again: back to doorbells", slog.Duration("polled_for", now.Sub(p.poll.since)))
	p.poll = pollState{drain: true}
	if p.opts.Events.Polling != nil {
		p.opts.Events.Polling(false)
	}
	return true
}

// pollMany claims up to n due runs of this replica's config from the store
// in one transaction (Store.ClaimDue: SKIP LOCKED, so replicas polling
// together take different runs) and starts their attempts; when it found
// none it waits PollInterval, ±20%, before the loop asks again. It returns
// how many attempts it started.
func (p *Pool) pollMany(ctx context.Context, n int) int {
	cfg := p.cfg.Load()
	now := p.opts.Clock.Now()
	reserved := map[int64]candidate{}
	accept := func(id int64, job, digest string) bool {
		if _, ok := reserved[id]; ok {
			return true // the transaction was retried
		}
		j := cfg.Job(job)
		if j == nil || j.Digest != digest || !j.RunsOn(p.opts.Labels) {
			return false
		}
		jsem := p.jobSem(j)
		if jsem != nil {
			select {
			case jsem <- struct{}{}:
			default:
				return false // at its max_concurrency here
			}
		}
		reserved[id] = candidate{job: j, jsem: jsem}
		return true
	}
	// A run due before the next poll is claimed now and started at its
	// time, as a doorbell rung ahead would be.
	horizon := now.Add(min(p.opts.PollInterval, maxClaimAhead))
	sent, began := now, time.Now()
	runs, err := p.opts.Store.ClaimDue(ctx, storage.ClaimDueParams{Node: p.opts.Node, Labels: p.opts.Labels,
		Now: now, Horizon: horizon, LeaseUntil: now.Add(p.opts.AttemptLease), Limit: n, Accept: accept})
	if err != nil {
		for _, c := range reserved {
			c.release()
		}
		if ctx.Err() == nil {
			p.storeError("claim_due", err)
			p.log.Warn("claiming due runs from the store", slog.Any("error", err))
		}
		clock.Sleep(ctx, p.opts.Clock, p.pollPause())
		return 0
	}
	p.claimed(runs, began, claimViaPoll)
	started := 0
	for _, run := range runs {
		c, ok := reserved[run.ID]
		if !ok {
			continue // not accepted: a broken store
		}
		delete(reserved, run.ID)
		p.start(c, run, newLeaseFence(sent, p.opts.AttemptLease, p.opts.StartMargin))
		started++
	}
	for _, c := range reserved {
		c.release()
	}
	if started == 0 {
		clock.Sleep(ctx, p.opts.Clock, p.pollPause())
	}
	return started
}

// pollPause is PollInterval ±20%.
func (p *Pool) pollPause() time.Duration {
	d := p.opts.PollInterval
	return d - d/5 + time.Duration(rand.Int64N(int64(2*d/5)+1))
}
