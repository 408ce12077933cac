package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// Now reads the store's clock (I9): the dialect's NowQuery on the write
// pool, or, for an engine inside this process, the process clock after a
// ping, so that a caller measuring the round trip still learns whether
// the store answers.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	if s.d.NowQuery == "" {
		if err := s.w.PingContext(ctx); err != nil {
			return time.Time{}, fmt.Errorf("reading %s store clock: %w", s.d.Name, err)
		}
		return s.now().UTC(), nil
	}
	var t dbTime
	if err := s.w.QueryRowContext(ctx, s.d.NowQuery).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("reading %s store clock: %w", s.d.Name, err)
	}
	return t.T.UTC(), nil
}
