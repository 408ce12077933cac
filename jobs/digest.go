package jobs

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// digestLen is how many bytes of the SHA-256 sum a digest keeps (hex: twice that).
const digestLen = 16

// canon writes a canonical, unambiguous encoding: every field is tagged and
// every string and list is length-prefixed, so no two different definitions
// encode alike. It appends to a buffer that it hashes in pieces of about
// canonFlush bytes, so one canon serves many digests (reset) without
// allocating per field.
type canon struct {
	h hash.Hash
	b []byte
}

const canonFlush = 4096

func newCanon() *canon { return &canon{h: sha256.New(), b: make([]byte, 0, 2*canonFlush)} }

func (c *canon) reset() {
	c.h.Reset()
	c.b = c.b[:0]
}

func (c *canon) flush() {
	if len(c.b) >= canonFlush {
		c.h.Write(c.b)
		c.b = c.b[:0]
	}
}

func (c *canon) raw(s string) {
	c.b = append(c.b, s...)
	c.flush()
}

// tag writes a field's tag with an optional suffix (# for counts).
func (c *canon) tag(tag, suffix string) {
	c.b = append(c.b, tag...)
	c.b = append(c.b, suffix...)
}

func (c *canon) str(tag, s string) {
	c.tag(tag, ":")
	c.b = strconv.AppendInt(c.b, int64(len(s)), 10)
	c.b = append(c.b, ':')
	c.b = append(c.b, s...)
	c.b = append(c.b, ';')
	c.flush()
}

func (c *canon) int(tag string, v int64) { c.count(tag, "", v) }

// count writes tag+suffix=v;.
func (c *canon) count(tag, suffix string, v int64) {
	c.tag(tag, suffix)
	c.b = append(c.b, '=')
	c.b = strconv.AppendInt(c.b, v, 10)
	c.b = append(c.b, ';')
	c.flush()
}

func (c *canon) dur(tag string, d time.Duration) { c.int(tag, int64(d)) }

func (c *canon) strs(tag string, list []string) {
	c.count(tag, "#", int64(len(list)))
	for _, s := range list {
		c.str(tag, s)
	}
}

func (c *canon) strMap(tag string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	c.count(tag, "#", int64(len(keys)))
	for _, k := range keys {
		c.str(tag+".k", k)
		c.str(tag+".v", m[k])
	}
}

func (c *canon) sum() string {
	c.h.Write(c.b)
	c.b = c.b[:0]
	var sum [sha256.Size]byte
	return hex.EncodeToString(c.h.Sum(sum[:0])[:digestLen])
}

// jobDigest covers everything that affects how and when a job runs, and
// nothing that does not (Paused, Line, AlertLate, AlertFailures), so pausing
// a job, moving it in the file or tuning its alerts does not make workers
// refuse its runs (I7).
func jobDigest(j *Job) string { return newCanon().jobDigest(j) }

func (c *canon) jobDigest(j *Job) string {
	c.reset()
	c.raw("tock-job-v1;")
	c.str("name", j.Name)
	c.str("schedule", j.Schedule)
	c.str("timezone", j.Timezone)
	c.str("executor", j.ExecutorKind())
	c.strs("command", j.Command)
	c.str("shell", j.Shell)
	if h := j.HTTP; h != nil {
		c.str("http.method", h.Method)
		c.str("http.url", h.URL)
		c.strMap("http.headers", h.Headers)
		c.str("http.body", h.Body)
		codes := append([]int(nil), h.Success...)
		sort.Ints(codes)
		c.count("http.success", "#", int64(len(codes)))
		for _, code := range codes {
			c.int("http.success", int64(code))
		}
	}
	c.strMap("env", j.Env)
	c.dur("timeout", j.Timeout)
	c.int("retries", int64(j.Retries))
	c.dur("retry_backoff", j.RetryBackoff)
	c.dur("retry_backoff_max", j.RetryBackoffMax)
	c.str("concurrency", string(j.Concurrency))
	c.int("max_concurrency", int64(j.MaxConcurrency))
	c.str("misfire", string(j.Misfire))
	c.dur("catchup_window", j.CatchupWindow)
	c.dur("jitter", j.Jitter)
	// Where a job runs is part of what a worker must agree on before it
	// claims (I7): a worker whose copy says the job is pinned elsewhere, or
	// is not broadcast, must not claim its runs. A job without run_on
	// encodes nothing, so its digest stays what it was before run_on.
	if p := j.placement(); p != nil {
		c.strMap("run_on.labels", p.Labels)
		if p.Broadcast {
			c.int("run_on.broadcast", 1)
		}
	}
	// Params change what executes; a job without them encodes nothing,
	// so its digest stays what it was before params existed.
	if ps := j.params(); ps != nil {
		c.count("params", "#", int64(len(ps.List)))
		for _, p := range ps.List {
			c.str("param.name", p.Name)
			if p.Default != nil {
				c.str("param.default", *p.Default)
			} else {
				c.str("param.required", "")
			}
			c.str("param.pattern", p.Pattern)
		}
	}
	return c.sum()
}

// configDigest covers every job's digest, in a fixed order, and what the
// leader does beyond running jobs: the dependency graph, the history settings, each job's alert
// settings and the notify block. It gates nothing; it only flags replicas
// that would prune or alert differently if they became leader.
func configDigest(cfg *Config) string {
	c := newCanon()
	c.raw("tock-config-v1;")
	c.strs("jobs", sortedDigests(cfg.Jobs))
	c.dur("history.keep", cfg.History.Keep)
	c.int("history.keep_per_job", int64(cfg.History.KeepPerJob))
	// A config without after encodes nothing here, so its digest stays
	// what it was before dependencies existed.
	edges := cfg.DepEdges()
	sort.Slice(edges, func(a, b int) bool {
		if edges[a].Job != edges[b].Job {
			return edges[a].Job < edges[b].Job
		}
		return edges[a].Upstream < edges[b].Upstream
	})
	for _, e := range edges {
		c.str("after.job", e.Job)
		c.str("after.upstream", e.Upstream)
		c.str("after.on", string(e.On))
	}
	if alertsDigest(c, cfg.Jobs) {
		n := cfg.Notify
		c.str("notify.webhook", n.Webhook)
		c.strMap("notify.headers", n.Headers)
		c.dur("notify.timeout", n.Timeout)
		c.int("notify.retries", int64(n.Retries))
	}
	return c.sum()
}

// sortedDigests returns the jobs' digests in ascending order. Digests are
// lowercase hex, whose string order is the order of the numbers they spell:
// sorting them as two uint64s instead of as strings takes a million-job
// config's sort from over a second to a few tens of milliseconds. Any
// digest of another form (none is) falls back to sorting strings.
func sortedDigests(list []*Job) []string {
	type key struct {
		hi, lo uint64
		job    int
	}
	keys := make([]key, len(list))
	var b [digestLen]byte
	for i, j := range list {
		d := j.Digest
		if len(d) != 2*digestLen || strings.ContainsAny(d, "ABCDEF") {
			return sortedStrings(list)
		}
		if _, err := hex.Decode(b[:], []byte(d)); err != nil {
			return sortedStrings(list)
		}
		keys[i] = key{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), i}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		return cmp.Compare(a.lo, b.lo)
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = list[k.job].Digest
	}
	return out
}

func sortedStrings(list []*Job) []string {
	digests := make([]string, len(list))
	for i, j := range list {
		digests[i] = j.Digest
	}
	sort.Strings(digests)
	return digests
}

// alertsDigest adds the alert settings of the jobs that have any, by name,
// and reports whether there were any. A config without alerts encodes
// nothing, so its digest stays what it was before alerts existed.
func alertsDigest(c *canon, list []*Job) bool {
	var alerting []*Job
	for _, j := range list {
		if j.AlertLate != 0 || j.AlertFailures != 0 {
			alerting = append(alerting, j)
		}
	}
	sort.Slice(alerting, func(a, b int) bool { return alerting[a].Name < alerting[b].Name })
	for _, j := range alerting {
		c.str("alert.job", j.Name)
		c.dur("alert.late", j.AlertLate)
		c.int("alert.failures", int64(j.AlertFailures))
	}
	return len(alerting) > 0
}
