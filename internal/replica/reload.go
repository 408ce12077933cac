package replica

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
)

// reloadDebounce coalesces the several events an editor's save produces.
const reloadDebounce = 250 * time.Millisecond

// releaseMinJobs is the size of config from which a replica returns the
// memory a load left behind to the OS at once (releaseMemory).
const releaseMinJobs = 10000

// releaseMemory returns free heap memory to the OS after a config of jobs
// jobs was loaded, if it is large. Parsing a config allocates several times
// what the config keeps (about 4 KB a job, the file's bytes, a reload's old
// config) and the leader's schedule build more; the Go runtime would return
// the freed pages only gradually, so a replica's RSS would stay near its
// load-time peak for minutes. It forces a collection, which takes about half
// a second at a million jobs, so it runs once per load, when the garbage is
// garbage: after the parse at start (Open, on a goroutine while the start
// goes on), and after each schedule build (Replica.releaseAfterBuild), not
// while one is under way.
func releaseMemory(log *slog.Logger, jobs int) {
	if jobs < releaseMinJobs {
		return
	}
	start := time.Now()
	debug.FreeOSMemory()
	log.Debug("returned free memory to the OS after loading the config", slog.Int("jobs", jobs),
		slog.Duration("took", time.Since(start)))
}

// Reloader reloads the config file on SIGHUP and when the file changes. An
// invalid file keeps the old config running; the error is logged and kept
// for health and metrics.
type Reloader struct {
	path  string
	log   *slog.Logger
	apply func(*jobs.Config)

	// reloading serializes Reload: a SIGHUP, the file watcher and a
	// caller may ask at once, and two parses of a large file would hold
	// two configs in memory.
	reloading sync.Mutex

	mu       sync.Mutex
	current  *jobs.Config
	lastErr  error
	failures int64
	// loaded is the SHA-256 of the file behind current once a reload has
	// read it; a reload of the same bytes parses nothing (a SIGHUP and
	// the file watcher often report one change twice, and parsing a 1M-job
	// file takes a minute).
	loaded [sha256.Size]byte
	known  bool
	// Reloaded, when set, is called after every reload attempt (tests).
	Reloaded func(cfg *jobs.Config, err error)
	// Changed, when set, is called after a reload that read new bytes:
	// with the config replaced and the one applied, or with the config
	// kept and the error of the file refused. Same bytes call nothing.
	Changed func(prev, cfg *jobs.Config, err error)
}

// NewReloader returns a Reloader of path whose config in force is initial,
// calling apply with each valid config it loads later. It holds the only
// reference a replica keeps to a config it has replaced, so a reload
// leaves the old config to the garbage collector.
func NewReloader(path string, initial *jobs.Config, log *slog.Logger, apply func(*jobs.Config)) *Reloader {
	return &Reloader{path: path, current: initial, log: log.With(slog.String("component", "reload")), apply: apply}
}

// Current returns the config in force: the last one applied.
func (r *Reloader) Current() *jobs.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

// LastError returns the error of the last reload attempt (nil if it
// succeeded or none happened) and how many reloads failed in all.
func (r *Reloader) LastError() (error, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr, r.failures
}

// Reload reads the file now; it applies it unless it holds the same bytes
// as the config in force.
func (r *Reloader) Reload() {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	data, err := jobfile.Read(r.path)
	var sum [sha256.Size]byte
	if err == nil {
		sum = sha256.Sum256(data)
		r.mu.Lock()
		same := r.known && r.lastErr == nil && sum == r.loaded
		cur, cb := r.current, r.Reloaded
		r.mu.Unlock()
		if same {
			r.log.Debug("config file unchanged; not reloaded", slog.String("file", r.path))
			if cb != nil {
				cb(cur, nil)
			}
			return
		}
	}
	var cfg *jobs.Config
	if err == nil {
		cfg, err = jobfile.Parse(r.path, data)
	}
	r.mu.Lock()
	prev := r.current
	r.lastErr = err
	if err != nil {
		r.failures++
	} else {
		r.current = cfg
		r.loaded, r.known = sum, true
	}
	cb, changed := r.Reloaded, r.Changed
	r.mu.Unlock()
	if err != nil {
		r.log.Error("config reload failed; keeping the previous config", slog.String("file", r.path), slog.Any("error", err))
	} else {
		r.log.Info("config reloaded", slog.String("file", r.path), slog.Int("jobs", len(cfg.Jobs)), slog.String("config_digest", cfg.Digest))
		r.apply(cfg)
	}
	if changed != nil {
		changed(prev, cfg, err)
	}
	if cb != nil {
		cb(cfg, err)
	}
}

// Run watches for SIGHUP and file changes until ctx ends.
func (r *Reloader) Run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		// Watch the directory: editors and config management replace the
		// file rather than writing it in place.
		if err = w.Add(filepath.Dir(r.path)); err == nil {
			events, errs = w.Events, w.Errors
		}
		defer w.Close()
	}
	if err != nil {
		r.log.Warn("watching the config file; reload with SIGHUP", slog.Any("error", err))
	}
	base := filepath.Base(r.path)
	var debounce <-chan time.Time
	var timer *time.Timer
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-hup:
			r.Reload()
		case ev := <-events:
			if filepath.Base(ev.Name) != base || ev.Op == fsnotify.Chmod {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(reloadDebounce)
			} else {
				timer.Reset(reloadDebounce)
			}
			debounce = timer.C
		case <-debounce:
			debounce = nil
			r.Reload()
		case err := <-errs:
			r.log.Warn("config watcher", slog.Any("error", err))
		}
	}
}
