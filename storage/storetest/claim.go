package storetest

import (
	"context"
	"fmt"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// ClaimOne claims one run with a ClaimMany of one item, for tests that
// claim runs one at a time. It returns storage.ErrNotClaimed when ClaimMany
// leaves the run out.
func ClaimOne(ctx context.Context, s storage.Store, p storage.ClaimParams) (jobs.Run, error) {
	runs, err := s.ClaimMany(ctx, []storage.ClaimParams{p})
	if err != nil {
		return jobs.Run{}, err
	}
	if len(runs) == 0 {
		return jobs.Run{}, fmt.Errorf("claiming run %d: %w", p.RunID, storage.ErrNotClaimed)
	}
	return runs[0], nil
}
