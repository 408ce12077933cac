package replica

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tock-sched/tock/internal/redact"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql"
	"github.com/tock-sched/tock/storage/sqlite"
)

// OpenStore opens the store named by url: sqlite:PATH (the embedded default)
// or mysql://user:pass@host:port/db.
func OpenStore(ctx context.Context, url string, log *slog.Logger) (storage.Store, error) {
	return openStore(ctx, url, log, 0)
}

// openStore is OpenStore with the MySQL sessions' idle timeout (see
// mysql.Options.SessionIdleTimeout); 0 keeps the server's.
func openStore(ctx context.Context, url string, log *slog.Logger, idle time.Duration) (storage.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		s, err := sqlite.Open(ctx, url, sqlite.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("opening store %s: %w", url, err)
		}
		return s, nil
	case strings.HasPrefix(url, "mysql://"):
		s, err := mysql.Open(ctx, url, mysql.Options{Logger: log, SessionIdleTimeout: idle})
		if err != nil {
			return nil, fmt.Errorf("opening store %s: %w", redact.URL(url), err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("--store %q: unknown scheme; want sqlite:PATH or mysql://user:pass@host:port/db", redact.URL(url))
}

// IsEmbedded reports whether url names the embedded SQLite store.
func IsEmbedded(url string) bool { return strings.HasPrefix(url, "sqlite:") }

// sessionIdleTimeout is how long the store's server keeps a silent
// session of this replica (and its row locks): two thirds of the lease TTL,
// the leader's store bound, at least 2s.
func sessionIdleTimeout(leaseTTL time.Duration) time.Duration {
	return max(2*time.Second, leaseTTL*2/3)
}
