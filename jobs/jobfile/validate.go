package jobfile

import (
	"fmt"
	"iter"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tock-sched/tock/jobs"
)

// Limits on what a config file may say.
const (
	// MaxConfigSize is the largest config file Load reads.
	MaxConfigSize = 512 << 20
	// MaxJobNameLen is the longest job name.
	MaxJobNameLen = 200
	// MaxRetries bounds retries so that jobs.Job.MaxAttempts stays small.
	MaxRetries = 1000
	// MaxAlertFailures bounds alert_failures, which bounds the history
	// the leader reads per job and check.
	MaxAlertFailures = 1000
	// MaxNotifyRetries bounds notify.retries; with the leader's exponential
	// backoff more would only hold up the notifications queued behind.
	MaxNotifyRetries = 10
)

var jobNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// Keys of each mapping, in the order they are checked.
var (
	topKeys      = []string{"defaults", "jobs", "history", "notify"}
	defaultsKeys = []string{"timezone", "timeout", "retries", "retry_backoff", "retry_backoff_max",
		"concurrency", "misfire", "catchup_window", "jitter", "max_concurrency", "alert_late", "alert_failures"}
	historyKeys = []string{"keep", "keep_per_job"}
	notifyKeys  = []string{"webhook", "headers", "timeout", "retries"}
	jobKeys     = []string{"name", "schedule", "timezone", "command", "shell", "http", "env",
		"timeout", "retries", "retry_backoff", "retry_backoff_max", "concurrency", "misfire",
		"catchup_window", "jitter", "max_concurrency", "alert_late", "alert_failures", "paused", "run_on", "after", "params"}
	httpKeys  = []string{"method", "url", "headers", "body", "success"}
	runOnKeys = []string{"labels", "broadcast"}
	paramKeys = []string{"name", "default", "pattern"}
)

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// parse decodes and validates data: the jobs one batch at a time where the
// file's layout allows (stream.go), else the whole document at once.
func (d *decoder) parse(data []byte, stream bool) *jobs.Config {
	if stream {
		if cfg, ok := d.parseStream(data); ok {
			return cfg
		}
		d.reset()
	}
	root := d.document(data)
	if root == nil {
		return nil
	}
	return d.config(root, nil)
}

// config reads the top-level mapping root. The jobs come from items when
// it is not nil (streaming: root's jobs value is then an empty stand-in),
// else from the jobs node of root.
func (d *decoder) config(root *yaml.Node, items iter.Seq[*yaml.Node]) *jobs.Config {
	cfg := &jobs.Config{Defaults: jobs.BuiltinDefaults(),
		Notify: jobs.NotifyConfig{Timeout: jobs.DefaultNotifyTimeout, Retries: jobs.DefaultNotifyRetries}}
	top, ok := d.mapping(root, "", topKeys)
	if !ok {
		return nil
	}
	defaultLoc := time.UTC
	if e, ok := top.get("defaults"); ok {
		defaultLoc = d.defaults(e.val, "defaults", &cfg.Defaults)
	}
	if e, ok := top.get("history"); ok {
		d.history(e.val, "history", &cfg.History)
	}
	if e, ok := top.get("notify"); ok {
		d.notify(e.val, "notify", &cfg.Notify)
	}
	e, ok := top.get("jobs")
	if !ok {
		d.errorf(root, "jobs", "no jobs defined")
		return nil
	}
	if items == nil {
		items = d.jobItems(e)
	}
	if items != nil {
		cfg.Jobs = d.jobs(items, cfg.Defaults, defaultLoc)
	}
	return cfg
}

func (d *decoder) policy(n *yaml.Node, path string, allowed []string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if a == s {
			return a, true // not s: one string for every job
		}
	}
	d.errorf(n, path, "unknown value %q (want one of %s)", s, strings.Join(allowed, ", "))
	return "", false
}

var (
	concurrencyValues = []string{string(jobs.ConcurrencyAllow), string(jobs.ConcurrencyForbid), string(jobs.ConcurrencyReplace)}
	misfireValues     = []string{string(jobs.MisfireSkip), string(jobs.MisfireRunOnce), string(jobs.MisfireRunAll)}
)

// location loads a time zone by IANA name, caching per parse.
func (d *decoder) location(n *yaml.Node, path string) (*time.Location, bool) {
	name, ok := d.str(n, path)
	if !ok {
		return nil, false
	}
	if loc, ok := d.zones[name]; ok {
		return loc, true
	}
	if name == "" || name == "Local" {
		d.errorf(n, path, "time zone must be an IANA name such as UTC or Europe/Berlin, got %q", name)
		return nil, false
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		d.errorf(n, path, "unknown time zone %q", name)
		return nil, false
	}
	d.zones[name] = loc
	return loc, true
}

// limits are the fields shared by the defaults block and jobs.
type limits struct {
	timeout, retryBackoff, retryBackoffMax, catchupWindow, jitter, alertLate *time.Duration
	retries, maxConcurrency, alertFailures                                   *int
	concurrency                                                              *jobs.ConcurrencyPolicy
	misfire                                                                  *jobs.MisfirePolicy
}

func (d *decoder) limits(m fields, path string, l limits) {
	durations := []struct {
		key      string
		dst      *time.Duration
		positive bool
	}{
		{"timeout", l.timeout, true},
		{"retry_backoff", l.retryBackoff, false},
		{"retry_backoff_max", l.retryBackoffMax, false},
		{"catchup_window", l.catchupWindow, false},
		{"jitter", l.jitter, false},
		{"alert_late", l.alertLate, false},
	}
	for _, f := range durations {
		if e, ok := m.get(f.key); ok {
			if v, ok := d.duration(e.val, join(path, f.key), f.positive); ok {
				*f.dst = v
			}
		}
	}
	if e, ok := m.get("retries"); ok {
		if v, ok := d.nonNegInt(e.val, join(path, "retries"), MaxRetries); ok {
			*l.retries = v
		}
	}
	if e, ok := m.get("max_concurrency"); ok {
		if v, ok := d.nonNegInt(e.val, join(path, "max_concurrency"), 1<<31-1); ok {
			*l.maxConcurrency = v
		}
	}
	if e, ok := m.get("alert_failures"); ok {
		if v, ok := d.nonNegInt(e.val, join(path, "alert_failures"), MaxAlertFailures); ok {
			*l.alertFailures = v
		}
	}
	if e, ok := m.get("concurrency"); ok {
		if v, ok := d.policy(e.val, join(path, "concurrency"), concurrencyValues); ok {
			*l.concurrency = jobs.ConcurrencyPolicy(v)
		}
	}
	if e, ok := m.get("misfire"); ok {
		if v, ok := d.policy(e.val, join(path, "misfire"), misfireValues); ok {
			*l.misfire = jobs.MisfirePolicy(v)
		}
	}
}

// defaults reads the defaults block into defs and returns the default time
// zone, nil if it is bad (so jobs inheriting it are not reported again).
func (d *decoder) defaults(n *yaml.Node, path string, defs *jobs.Defaults) *time.Location {
	loc := time.UTC
	if isNull(n) {
		return loc
	}
	m, ok := d.mapping(n, path, defaultsKeys)
	if !ok {
		return loc
	}
	if e, ok := m.get("timezone"); ok {
		if loc, ok = d.location(e.val, join(path, "timezone")); ok {
			defs.Timezone = e.val.Value
		}
	}
	d.limits(m, path, limits{
		timeout: &defs.Timeout, retryBackoff: &defs.RetryBackoff, retryBackoffMax: &defs.RetryBackoffMax,
		catchupWindow: &defs.CatchupWindow, jitter: &defs.Jitter, retries: &defs.Retries,
		maxConcurrency: &defs.MaxConcurrency, concurrency: &defs.Concurrency, misfire: &defs.Misfire,
		alertLate: &defs.AlertLate, alertFailures: &defs.AlertFailures,
	})
	return loc
}

func (d *decoder) history(n *yaml.Node, path string, h *jobs.HistoryConfig) {
	if isNull(n) {
		return
	}
	m, ok := d.mapping(n, path, historyKeys)
	if !ok {
		return
	}
	if e, ok := m.get("keep"); ok {
		if v, ok := d.duration(e.val, join(path, "keep"), false); ok {
			h.Keep = v
		}
	}
	if e, ok := m.get("keep_per_job"); ok {
		if v, ok := d.nonNegInt(e.val, join(path, "keep_per_job"), 1<<31-1); ok {
			h.KeepPerJob = v
		}
	}
}

// notify reads the notify block over the built-in notify defaults in n.
func (d *decoder) notify(n *yaml.Node, path string, nc *jobs.NotifyConfig) {
	if isNull(n) {
		return
	}
	m, ok := d.mapping(n, path, notifyKeys)
	if !ok {
		return
	}
	if e, ok := m.get("webhook"); ok {
		p := join(path, "webhook")
		if s, ok := d.str(e.val, p); ok {
			if msg := checkURL(s); msg != "" {
				d.errorf(e.val, p, "%s", msg)
			} else {
				nc.Webhook = s
			}
		}
	}
	if e, ok := m.get("headers"); ok {
		if h, ok := d.headers(e.val, join(path, "headers")); ok {
			nc.Headers = h
		}
	}
	if e, ok := m.get("timeout"); ok {
		if v, ok := d.duration(e.val, join(path, "timeout"), true); ok {
			nc.Timeout = v
		}
	}
	if e, ok := m.get("retries"); ok {
		if v, ok := d.nonNegInt(e.val, join(path, "retries"), MaxNotifyRetries); ok {
			nc.Retries = v
		}
	}
}

// jobItems checks the jobs entry of the document's tree and returns its
// items, or nil after reporting why there are none.
func (d *decoder) jobItems(e entry) iter.Seq[*yaml.Node] {
	n := e.val
	if isNull(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0) {
		d.errorf(e.key, "jobs", "no jobs defined")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "jobs", "expected a list of jobs, got %s", describe(n))
		return nil
	}
	return slices.Values(n.Content)
}

// jobs reads the items of the jobs list in order.
func (d *decoder) jobs(items iter.Seq[*yaml.Node], defs jobs.Defaults, defaultLoc *time.Location) []*jobs.Job {
	var out []*jobs.Job
	firstLine := map[string]int32{}
	i := -1
	for c := range items {
		i++
		if d.stop {
			break
		}
		path := fmt.Sprintf("jobs[%d]", i)
		j, nameNode := d.job(d.resolve(c), path, defs, defaultLoc)
		if j == nil {
			continue
		}
		if nameNode != nil {
			if first, dup := firstLine[j.Name]; dup {
				d.errorf(nameNode, join(path, "name"), "duplicate job name %q (first defined at line %d)", j.Name, first)
				continue
			}
			firstLine[j.Name] = j.Line
		}
		out = append(out, j)
	}
	d.checkDeps(out)
	return out
}

// job reads one job, returning it (even when some fields were bad, so the
// caller can still check its name) and the node of a valid name.
func (d *decoder) job(n *yaml.Node, path string, defs jobs.Defaults, defaultLoc *time.Location) (*jobs.Job, *yaml.Node) {
	m, ok := d.mapping(n, path, jobKeys)
	if !ok {
		return nil, nil
	}
	j := &jobs.Job{Line: int32(n.Line)}
	st := defs.Settings()

	var nameNode *yaml.Node
	if e, ok := m.get("name"); !ok {
		d.errorf(n, join(path, "name"), "missing required field")
	} else if name, ok := d.str(e.val, join(path, "name")); ok {
		switch {
		case len(name) > MaxJobNameLen:
			d.errorf(e.val, join(path, "name"), "longer than %d characters", MaxJobNameLen)
		case !jobNameRE.MatchString(name):
			d.errorf(e.val, join(path, "name"), "invalid job name %q: use lower-case letters, digits, '_', '.', '-', starting with a letter or digit", name)
		default:
			j.Name = name
			nameNode = e.val
		}
	}

	// The time zone comes before the schedule, which is evaluated in it.
	jobLoc := defaultLoc
	if e, ok := m.get("timezone"); ok {
		jobLoc = nil
		if loc, ok := d.location(e.val, join(path, "timezone")); ok {
			st.Timezone, jobLoc = d.intern(e.val.Value), loc
		}
	}
	if e, ok := m.get("after"); ok {
		st.Deps = d.after(e.val, join(path, "after"), j)
	}
	if e, ok := m.get("schedule"); !ok {
		// A job that follows others may run only when they do.
		if _, hasAfter := m.get("after"); !hasAfter {
			d.errorf(n, join(path, "schedule"), "missing required field (a job without after: needs a schedule)")
		}
	} else if spec, ok := d.str(e.val, join(path, "schedule")); ok {
		loc := jobLoc
		if loc == nil {
			// The zone is bad and reported; still check the spec.
			loc = time.UTC
		}
		if err := d.scheds.SetSchedule(j, spec, loc); err != nil {
			d.errorf(e.val, join(path, "schedule"), "%s", strings.TrimPrefix(err.Error(), "jobs: "))
		}
	}

	d.executor(n, m, path, j)

	if e, ok := m.get("env"); ok {
		if env, ok := d.strMap(e.val, join(path, "env")); ok {
			for k := range env {
				if strings.ContainsRune(k, '=') || k == "" {
					d.errorf(e.val, join(path, "env"), "invalid variable name %q", k)
				}
			}
			if len(env) > 0 {
				j.Env = env
			}
		}
	}
	if e, ok := m.get("params"); ok {
		st.Params = d.params(e.val, join(path, "params"))
		d.paramEnv(m, path, j, st.Params)
	}
	if e, ok := m.get("run_on"); ok {
		st.RunOn = d.runOn(e.val, join(path, "run_on"))
	}
	d.limits(m, path, limits{
		timeout: &st.Timeout, retryBackoff: &st.RetryBackoff, retryBackoffMax: &st.RetryBackoffMax,
		catchupWindow: &st.CatchupWindow, jitter: &st.Jitter, retries: &st.Retries,
		maxConcurrency: &st.MaxConcurrency, concurrency: &st.Concurrency, misfire: &st.Misfire,
		alertLate: &st.AlertLate, alertFailures: &st.AlertFailures,
	})
	j.Settings = d.settings(st)
	if e, ok := m.get("paused"); ok {
		if v, ok := d.boolean(e.val, join(path, "paused")); ok {
			j.Paused = v
		}
	}
	return j, nameNode
}

// executor reads the one executor a job must have.
func (d *decoder) executor(n *yaml.Node, m fields, path string, j *jobs.Job) {
	var set []string
	for _, k := range []string{"command", "shell", "http"} {
		if _, ok := m.get(k); ok {
			set = append(set, k)
		}
	}
	sort.SliceStable(set, func(a, b int) bool { return m.at(set[a]).key.Line < m.at(set[b]).key.Line })
	switch len(set) {
	case 0:
		d.errorf(n, path, "no executor: set exactly one of command, shell, http")
		return
	case 1:
	default:
		d.errorf(m.at(set[1]).key, path, "more than one executor (%s): set exactly one of command, shell, http", strings.Join(set, ", "))
		return
	}
	e := m.at(set[0])
	p := join(path, set[0])
	switch set[0] {
	case "command":
		j.Command = d.argv(e.val, p)
	case "shell":
		if s, ok := d.str(e.val, p); ok {
			if strings.TrimSpace(s) == "" {
				d.errorf(e.val, p, "empty shell command")
			} else {
				j.Shell = s
			}
		}
	case "http":
		j.HTTP = d.http(e.val, p)
	}
}

func (d *decoder) argv(n *yaml.Node, path string) []string {
	if isNull(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0) {
		d.errorf(n, path, "empty command: want an argv list such as [\"/usr/bin/make\", \"report\"]")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected an argv list such as [\"/usr/bin/make\", \"report\"], got %s", describe(n))
		return nil
	}
	argv := make([]string, 0, len(n.Content))
	ok := true
	for i, c := range n.Content {
		a, aok := d.str(d.resolve(c), fmt.Sprintf("%s[%d]", path, i))
		ok = ok && aok
		argv = append(argv, a)
	}
	if !ok {
		return nil
	}
	if strings.TrimSpace(argv[0]) == "" {
		d.errorf(n.Content[0], path+"[0]", "empty program name")
		return nil
	}
	return argv
}

func (d *decoder) http(n *yaml.Node, path string) *jobs.HTTPSpec {
	m, ok := d.mapping(n, path, httpKeys)
	if !ok {
		return nil
	}
	spec := &jobs.HTTPSpec{Method: "GET"}
	ok = true
	if e, found := m.get("method"); found {
		if s, sok := d.str(e.val, join(path, "method")); !sok {
			ok = false
		} else if i := slices.Index(httpMethods, strings.ToUpper(s)); i < 0 {
			d.errorf(e.val, join(path, "method"), "unknown method %q (want one of %s)", s, strings.Join(httpMethods, ", "))
			ok = false
		} else {
			spec.Method = httpMethods[i] // one string for every job
		}
	}
	if e, found := m.get("url"); !found {
		d.errorf(n, join(path, "url"), "missing required field")
		ok = false
	} else if s, sok := d.str(e.val, join(path, "url")); !sok {
		ok = false
	} else if msg := checkURL(s); msg != "" {
		d.errorf(e.val, join(path, "url"), "%s", msg)
		ok = false
	} else {
		spec.URL = s
	}
	if e, found := m.get("headers"); found {
		if h, hok := d.headers(e.val, join(path, "headers")); hok {
			spec.Headers = h
		} else {
			ok = false
		}
	}
	if e, found := m.get("body"); found {
		if s, sok := d.str(e.val, join(path, "body")); sok {
			spec.Body = s
		} else {
			ok = false
		}
	}
	if e, found := m.get("success"); found {
		if codes, cok := d.statusCodes(e.val, join(path, "success")); cok {
			spec.Success = codes
		} else {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return spec
}

func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("invalid url %q", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("url %q must start with http:// or https://", s)
	}
	if u.Host == "" {
		return fmt.Sprintf("url %q has no host", s)
	}
	return ""
}

func (d *decoder) headers(n *yaml.Node, path string) (map[string]string, bool) {
	h, ok := d.strMap(n, path)
	if !ok {
		return nil, false
	}
	seen := map[string]string{}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !validHeaderName(k) {
			d.errorf(n, join(path, k), "invalid header name %q", k)
			ok = false
			continue
		}
		if strings.ContainsAny(h[k], "\r\n") {
			d.errorf(n, join(path, k), "header value must not contain line breaks")
			ok = false
		}
		lower := strings.ToLower(k)
		if other, dup := seen[lower]; dup {
			d.errorf(n, join(path, k), "header set twice (also as %q)", other)
			ok = false
		}
		seen[lower] = k
	}
	if len(h) == 0 {
		h = nil
	}
	return h, ok
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func (d *decoder) statusCodes(n *yaml.Node, path string) ([]int, bool) {
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list of status codes, got %s", describe(n))
		return nil, false
	}
	codes := make([]int, 0, len(n.Content))
	ok := true
	for i, c := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		c = d.resolve(c)
		v, vok := d.nonNegInt(c, p, 1<<31-1)
		if !vok {
			ok = false
			continue
		}
		if v < 100 || v > 599 {
			d.errorf(c, p, "status code %d outside 100-599", v)
			ok = false
			continue
		}
		codes = append(codes, v)
	}
	if len(codes) == 0 {
		codes = nil
	}
	return codes, ok
}
