package replica

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tock-sched/tock/internal/redact"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/mysql"
	"github.com/tock-sched/tock/storage/sqlite"
)

// OpenStore opens the store named by url: sqlite:PATH (the embedded default)
// or mysql://user:pass@host:port/db.
func OpenStore(ctx context.Context, url string, log *slog.Logger) (storage.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		s, err := sqlite.Open(ctx, url, sqlite.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("opening store %s: %w", url, err)
		}
		return s, nil
	case strings.HasPrefix(url, "mysql://"):
		s, err := mysql.Open(ctx, url, mysql.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("opening store %s: %w", redact.URL(url), err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("--store %q: unknown scheme; want sqlite:PATH or mysql://user:pass@host:port/db", redact.URL(url))
}

// IsEmbedded reports whether url names the embedded SQLite store.
func IsEmbedded(url string) bool { return strings.HasPrefix(url, "sqlite:") }
