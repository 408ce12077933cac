package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Built-in defaults, used where neither the job nor the file's defaults block
// sets a value.
const (
	DefaultTimezone        = "UTC"
	DefaultTimeout         = 30 * time.Minute
	DefaultRetries         = 0
	DefaultRetryBackoff    = 10 * time.Second
	DefaultRetryBackoffMax = 10 * time.Minute
	DefaultConcurrency     = ConcurrencyForbid
	DefaultMisfire         = MisfireRunOnce
	DefaultCatchupWindow   = time.Hour
	DefaultJitter          = time.Duration(0)
	// DefaultMaxConcurrency 0 leaves a job bounded only by the global pool.
	DefaultMaxConcurrency = 0
	// DefaultAlertLate 0 turns the late alert off.
	DefaultAlertLate = time.Duration(0)
	// DefaultAlertFailures 0 turns the failures alert off.
	DefaultAlertFailures = 0
	// DefaultNotifyTimeout bounds one delivery attempt of a notification.
	DefaultNotifyTimeout = 10 * time.Second
	// DefaultNotifyRetries is the number of extra delivery attempts after
	// a failed one.
	DefaultNotifyRetries = 3
)

// Limits on what a config file may say.
const (
	// MaxConfigSize is the largest config file LoadFile reads.
	MaxConfigSize = 512 << 20
	// MaxJobNameLen is the longest job name.
	MaxJobNameLen = 200
	// MaxRetries bounds retries so that MaxAttempts stays small.
	MaxRetries = 1000
	// MaxAlertFailures bounds alert_failures, which bounds the history
	// the leader reads per job and check.
	MaxAlertFailures = 1000
	// MaxNotifyRetries bounds notify.retries; with the leader's exponential
	// backoff more would only hold up the notifications queued behind.
	MaxNotifyRetries = 10
	// maxErrors stops a hopeless file from producing unbounded output.
	maxErrors = 1000
)

// nodeBudgetBase is the least work spent on a document, counted in nodes
// visited with aliases expanded; the budget grows with the file (one node
// per byte: a document without aliases never reaches it), so only alias
// expansion ("billion laughs") can exhaust it. A variable for tests.
var nodeBudgetBase = 1 << 20

// Config is a validated config file: defaults merged into every job.
type Config struct {
	// Path is the file the config was read from, as given to LoadFile or Parse.
	Path string `json:"path"`
	// Defaults is the file's defaults block merged over the built-in defaults.
	Defaults Defaults `json:"defaults"`
	// Jobs are in file order.
	Jobs []*Job `json:"jobs"`
	// History says how long finished runs are kept.
	History HistoryConfig `json:"history"`
	// Notify says where the leader sends alert notifications.
	Notify NotifyConfig `json:"notify"`
	// Digest identifies the whole config (every job's digest, its alert
	// settings, the history and notify blocks); replicas whose digest
	// differs from the leader's are flagged.
	Digest string `json:"digest"`

	byName map[string]*Job
}

// Defaults is the defaults block: values a job inherits unless it sets its own.
type Defaults struct {
	// Timezone is an IANA zone name. Default DefaultTimezone.
	Timezone string `json:"timezone"`
	// Timeout bounds one attempt. Default DefaultTimeout.
	Timeout time.Duration `json:"timeout"`
	// Retries is the number of extra attempts after the first. Default 0.
	Retries int `json:"retries"`
	// RetryBackoff is the delay before the first retry; it doubles each
	// attempt. Default DefaultRetryBackoff.
	RetryBackoff time.Duration `json:"retry_backoff"`
	// RetryBackoffMax caps the backoff. Default DefaultRetryBackoffMax.
	RetryBackoffMax time.Duration `json:"retry_backoff_max"`
	// Concurrency is the overlap policy. Default DefaultConcurrency.
	Concurrency ConcurrencyPolicy `json:"concurrency"`
	// Misfire is the catch-up policy after downtime. Default DefaultMisfire.
	Misfire MisfirePolicy `json:"misfire"`
	// CatchupWindow is how old a missed tick may be and still run. Default
	// DefaultCatchupWindow.
	CatchupWindow time.Duration `json:"catchup_window"`
	// Jitter delays each fire by a random amount up to Jitter. Default 0.
	Jitter time.Duration `json:"jitter"`
	// MaxConcurrency bounds a job's attempts running at once on one replica;
	// 0 means only the global pool bounds it. Default 0.
	MaxConcurrency int `json:"max_concurrency"`
	// AlertLate is how late a run may start before the job's late alert
	// fires; 0 turns it off. Default 0.
	AlertLate time.Duration `json:"alert_late"`
	// AlertFailures is how many finished runs in a row must fail for the
	// job's failures alert to fire; 0 turns it off. Default 0.
	AlertFailures int `json:"alert_failures"`
}

// BuiltinDefaults returns the defaults that apply when a file has no
// defaults block.
func BuiltinDefaults() Defaults {
	return Defaults{
		Timezone:        DefaultTimezone,
		Timeout:         DefaultTimeout,
		Retries:         DefaultRetries,
		RetryBackoff:    DefaultRetryBackoff,
		RetryBackoffMax: DefaultRetryBackoffMax,
		Concurrency:     DefaultConcurrency,
		Misfire:         DefaultMisfire,
		CatchupWindow:   DefaultCatchupWindow,
		Jitter:          DefaultJitter,
		MaxConcurrency:  DefaultMaxConcurrency,
		AlertLate:       DefaultAlertLate,
		AlertFailures:   DefaultAlertFailures,
	}
}

// HistoryConfig is the history block: how long finished runs are kept. Zero
// values keep forever.
type HistoryConfig struct {
	// Keep is the age after which finished runs are deleted. Default 0 (forever).
	Keep time.Duration `json:"keep"`
	// KeepPerJob is the number of most recent runs kept per job. Default 0
	// (all).
	KeepPerJob int `json:"keep_per_job"`
}

// NotifyConfig is the notify block: where the leader posts alert
// notifications. Without a webhook alerts are only logged and exported as
// metrics.
type NotifyConfig struct {
	// Webhook is the http or https URL each notification is POSTed to as
	// JSON; empty sends none. Default empty.
	Webhook string `json:"webhook,omitempty"`
	// Headers are set on every notification request (e.g. Authorization).
	// They are kept out of JSON, since they often hold a secret.
	Headers map[string]string `json:"-"`
	// Timeout bounds one delivery attempt. Default DefaultNotifyTimeout.
	Timeout time.Duration `json:"timeout"`
	// Retries is the number of extra delivery attempts after a failed one,
	// with exponential backoff. Default DefaultNotifyRetries.
	Retries int `json:"retries"`
}

// Job returns the job named name, or nil.
func (c *Config) Job(name string) *Job {
	if c.byName != nil {
		return c.byName[name]
	}
	for _, j := range c.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// FieldError is one problem in a config file, located by line and field path
// (e.g. jobs[2].schedule).
type FieldError struct {
	File string
	// Line and Column are 1-based. Line is 0 only for a file-level problem
	// without a position (an empty file); Column is 0 for YAML syntax errors,
	// whose column yaml.v3 does not report.
	Line   int
	Column int
	// Field is the path of the offending field, empty for syntax errors.
	Field string
	Msg   string
}

// Error formats the problem as file:line: field: message.
func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigError is every problem found in a config file, in file order.
type ConfigError struct {
	Errors []FieldError
}

// Error lists the problems one per line.
func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual problems, so errors.As finds a FieldError.
func (e *ConfigError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		errs[i] = fe
	}
	return errs
}

// LoadFile reads and validates the config file at path. Validation problems
// are returned as a *ConfigError.
func LoadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jobs: reading config: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxConfigSize {
		return nil, fmt.Errorf("jobs: reading config %s: larger than %d bytes", path, MaxConfigSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("jobs: reading config %s: %w", path, err)
	}
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("jobs: reading config %s: larger than %d bytes", path, MaxConfigSize)
	}
	return Parse(path, data)
}

// Parse validates a config file's contents; path is used in error messages
// and as Config.Path. Every problem found is reported in one *ConfigError.
func Parse(path string, data []byte) (*Config, error) {
	d := &decoder{file: path, zones: map[string]*time.Location{}, budget: nodeBudgetBase + len(data)}
	cfg := d.parse(data)
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(a, b int) bool {
			if d.errs[a].Line != d.errs[b].Line {
				return d.errs[a].Line < d.errs[b].Line
			}
			return d.errs[a].Column < d.errs[b].Column
		})
		return nil, &ConfigError{Errors: d.errs}
	}
	cfg.Path = path
	cfg.byName = make(map[string]*Job, len(cfg.Jobs))
	for _, j := range cfg.Jobs {
		j.Digest = jobDigest(j)
		cfg.byName[j.Name] = j
	}
	cfg.Digest = configDigest(cfg)
	return cfg, nil
}

// ParseDuration parses a duration as written in config files and on the
// command line: Go's time.ParseDuration syntax plus a leading day count with
// a d suffix, e.g. 90s, 15m, 30d, 1d12h.
func ParseDuration(s string) (time.Duration, error) {
	in := s
	s = strings.TrimSpace(s)
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 90s, 15m, 2h, 1d12h)", in)
	}
	if s == "" {
		return bad()
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	var total time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		if i == 0 || strings.TrimLeft(s[:i], "0123456789") != "" {
			return bad()
		}
		days, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || days > int64(maxDuration/(24*time.Hour)) {
			return 0, fmt.Errorf("duration %q is out of range", in)
		}
		total = time.Duration(days) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return sign(total, neg), nil
		}
	}
	if s == "" || s[0] == '-' || s[0] == '+' {
		return bad()
	}
	rest, err := time.ParseDuration(s)
	if err != nil {
		switch msg := err.Error(); {
		case strings.Contains(msg, "missing unit"):
			return 0, fmt.Errorf("invalid duration %q: missing unit (want e.g. 90s, 15m, 2h, 1d12h)", in)
		case strings.Contains(msg, "unknown unit"):
			return 0, fmt.Errorf("invalid duration %q: unknown unit (want ns, us, ms, s, m, h or d)", in)
		case strings.Contains(msg, "overflow"):
			return 0, fmt.Errorf("duration %q is out of range", in)
		}
		return bad()
	}
	if rest > maxDuration-total {
		return 0, fmt.Errorf("duration %q is out of range", in)
	}
	return sign(total+rest, neg), nil
}

const maxDuration = time.Duration(1<<63 - 1)

func sign(d time.Duration, neg bool) time.Duration {
	if neg {
		return -d
	}
	return d
}

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
		"catchup_window", "jitter", "max_concurrency", "alert_late", "alert_failures", "paused"}
	httpKeys = []string{"method", "url", "headers", "body", "success"}
)

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// decoder walks a yaml.Node tree and collects every problem it finds.
type decoder struct {
	file  string
	errs  []FieldError
	nodes int
	// budget is the most nodes resolve visits (nodeBudgetBase + file size).
	budget int
	// stop is set when the error or node budget is spent.
	stop  bool
	zones map[string]*time.Location
}

// entry is one key/value pair of a mapping.
type entry struct {
	key, val *yaml.Node
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	if d.stop {
		return
	}
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, FieldError{File: d.file, Line: line, Column: col, Field: field,
			Msg: fmt.Sprintf("too many errors (more than %d); stopping", maxErrors)})
		d.stop = true
		return
	}
	d.errs = append(d.errs, FieldError{File: d.file, Line: line, Column: col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// resolve follows aliases and charges the node against the work budget.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes++
	if d.nodes > d.budget && !d.stop {
		d.errorf(n, "", "document too large (more than %d nodes with aliases expanded)", d.budget)
		d.stop = true
	}
	return n
}

func (d *decoder) parse(data []byte) *Config {
	root := d.document(data)
	if root == nil {
		return nil
	}
	cfg := &Config{Defaults: BuiltinDefaults(),
		Notify: NotifyConfig{Timeout: DefaultNotifyTimeout, Retries: DefaultNotifyRetries}}
	top, ok := d.mapping(root, "", topKeys)
	if !ok {
		return nil
	}
	defaultLoc := time.UTC
	if e, ok := top["defaults"]; ok {
		defaultLoc = d.defaults(e.val, "defaults", &cfg.Defaults)
	}
	if e, ok := top["history"]; ok {
		d.history(e.val, "history", &cfg.History)
	}
	if e, ok := top["notify"]; ok {
		d.notify(e.val, "notify", &cfg.Notify)
	}
	e, ok := top["jobs"]
	if !ok {
		d.errorf(root, "jobs", "no jobs defined")
		return nil
	}
	cfg.Jobs = d.jobs(e, cfg.Defaults, defaultLoc)
	return cfg
}

// document parses the YAML text and returns its root node, or nil after
// reporting why there is none.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs = append(d.errs, FieldError{File: d.file, Msg: "empty config file: no jobs defined"})
			return nil
		}
		d.syntaxError(data, err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		d.errorf(&extra, "", "more than one YAML document; a config file holds exactly one")
		return nil
	case !errors.Is(err, io.EOF):
		d.syntaxError(data, err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		d.errorf(&doc, "", "no jobs defined")
		return nil
	}
	return d.resolve(doc.Content[0])
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the yaml.v3 messages that come from its parser, whose
// line numbers are 0-based (its scanner's are 1-based).
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// syntaxError reports a yaml.v3 parse error with the line it names, or the
// best line that can be found for the errors yaml.v3 gives without one.
func (d *decoder) syntaxError(data []byte, err error) {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if parserProblems[msg] {
			// yaml.v3 reports parser (not scanner) errors with the
			// 0-based line of the construct being parsed.
			line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
		line = guessErrorLine(data, msg)
	}
	// Problems found at the end of the input point past the last line.
	line = max(1, min(line, lineCount(data)))
	d.errs = append(d.errs, FieldError{File: d.file, Line: line, Msg: "invalid YAML: " + msg})
}

var unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// guessErrorLine finds the line of problems yaml.v3 reports without a line:
// encoding problems, unknown anchors and anything on the first line.
func guessErrorLine(data []byte, msg string) int {
	at := -1
	switch {
	case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "control characters"):
		for i := 0; i < len(data); {
			r, size := utf8.DecodeRune(data[i:])
			if (r == utf8.RuneError && size <= 1) || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f && r != 0x85) {
				at = i
				break
			}
			i += size
		}
	default:
		if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
			at = bytes.Index(data, []byte("*"+m[1]))
		}
	}
	if at < 0 {
		return 1
	}
	return lineOf(data, at)
}

// lineOf returns the 1-based line of byte offset at, counting line breaks as
// yaml.v3 does: \r\n, \r, \n, NEL, LS and PS.
func lineOf(data []byte, at int) int {
	line := 1
	for i := 0; i < at && i < len(data); i++ {
		switch {
		case data[i] == '\n':
			line++
		case data[i] == '\r':
			if i+1 >= len(data) || data[i+1] != '\n' {
				line++
			}
		case data[i] == 0xc2 && i+1 < len(data) && data[i+1] == 0x85:
			line++
		case data[i] == 0xe2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xa8 || data[i+2] == 0xa9):
			line++
		}
	}
	return line
}

// lineCount is the number of the last line that holds anything.
func lineCount(data []byte) int {
	n := lineOf(data, len(data))
	if n > 1 && lineOf(data, len(data)-1) < n {
		n-- // the input ends with a line break
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a node's type for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		case "!!int":
			return "integer " + n.Value
		case "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	}
	return "an unsupported node"
}

// mapping checks that n is a mapping with string keys drawn from allowed and
// returns its entries; unknown and repeated keys are reported.
func (d *decoder) mapping(n *yaml.Node, path string, allowed []string) (map[string]entry, bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping with keys %s, got %s", strings.Join(allowed, ", "), describe(n))
		return nil, false
	}
	out := make(map[string]entry, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content) && !d.stop; i += 2 {
		k, v := d.resolve(n.Content[i]), d.resolve(n.Content[i+1])
		key, ok := d.key(k, path)
		if !ok {
			continue
		}
		if !contains(allowed, key) {
			d.errorf(k, join(path, key), "unknown field%s (want one of %s)", suggest(key, allowed), strings.Join(allowed, ", "))
			continue
		}
		if prev, dup := out[key]; dup {
			d.errorf(k, join(path, key), "set twice (first at line %d)", prev.key.Line)
			continue
		}
		out[key] = entry{key: k, val: v}
	}
	return out, true
}

// key checks that k is a usable mapping key.
func (d *decoder) key(k *yaml.Node, path string) (string, bool) {
	if k.Kind != yaml.ScalarNode || isNull(k) {
		d.errorf(k, path, "expected a field name, got %s", describe(k))
		return "", false
	}
	if k.ShortTag() == "!!merge" {
		d.errorf(k, path, "merge keys (<<) are not supported; use the defaults block")
		return "", false
	}
	return k.Value, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest offers the allowed key closest to a misspelt one.
func suggest(key string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if dist := editDistance(key, a); dist < bestDist {
			best, bestDist = a, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// str reads a scalar as text; numbers and booleans keep their source text.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected a string, got %s", describe(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
	default:
		d.errorf(n, path, "expected a string, got %s", describe(n))
		return "", false
	}
	if strings.IndexByte(n.Value, 0) >= 0 {
		d.errorf(n, path, "must not contain NUL bytes")
		return "", false
	}
	return n.Value, true
}

// nonNegInt reads a non-negative integer no larger than max.
func (d *decoder) nonNegInt(n *yaml.Node, path string, max int) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(n, path, "expected an integer, got %s", describe(n))
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil {
		d.errorf(n, path, "integer %s is out of range", n.Value)
		return 0, false
	}
	if v < 0 {
		d.errorf(n, path, "must not be negative, got %d", v)
		return 0, false
	}
	if v > int64(max) {
		d.errorf(n, path, "must be at most %d, got %d", max, v)
		return 0, false
	}
	return int(v), true
}

// duration reads a non-negative duration; positive insists on > 0.
func (d *decoder) duration(n *yaml.Node, path string, positive bool) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected a duration like 90s, 15m or 1d12h, got %s", describe(n))
		return 0, false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float":
	default:
		d.errorf(n, path, "expected a duration like 90s, 15m or 1d12h, got %s", describe(n))
		return 0, false
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "jobs: "))
		return 0, false
	}
	if v < 0 {
		d.errorf(n, path, "must not be negative, got %s", n.Value)
		return 0, false
	}
	if positive && v == 0 {
		d.errorf(n, path, "must be positive")
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.errorf(n, path, "expected true or false, got %s", describe(n))
		return false, false
	}
	var v bool
	if err := n.Decode(&v); err != nil {
		d.errorf(n, path, "expected true or false, got %s", describe(n))
		return false, false
	}
	return v, true
}

// strMap reads a mapping of strings; null is an empty map.
func (d *decoder) strMap(n *yaml.Node, path string) (map[string]string, bool) {
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of strings, got %s", describe(n))
		return nil, false
	}
	out := make(map[string]string, len(n.Content)/2)
	lines := make(map[string]int, len(n.Content)/2)
	ok := true
	for i := 0; i+1 < len(n.Content) && !d.stop; i += 2 {
		k, v := d.resolve(n.Content[i]), d.resolve(n.Content[i+1])
		key, kok := d.key(k, path)
		if kok {
			key, kok = d.str(k, path)
		}
		if !kok {
			ok = false
			continue
		}
		if first, dup := lines[key]; dup {
			d.errorf(k, join(path, key), "set twice (first at line %d)", first)
			ok = false
			continue
		}
		lines[key] = k.Line
		val, vok := d.str(v, join(path, key))
		if !vok {
			ok = false
			continue
		}
		out[key] = val
	}
	return out, ok
}

func (d *decoder) policy(n *yaml.Node, path string, allowed []string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	if !contains(allowed, s) {
		d.errorf(n, path, "unknown value %q (want one of %s)", s, strings.Join(allowed, ", "))
		return "", false
	}
	return s, true
}

var (
	concurrencyValues = []string{string(ConcurrencyAllow), string(ConcurrencyForbid), string(ConcurrencyReplace)}
	misfireValues     = []string{string(MisfireSkip), string(MisfireRunOnce), string(MisfireRunAll)}
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
	concurrency                                                              *ConcurrencyPolicy
	misfire                                                                  *MisfirePolicy
}

func (d *decoder) limits(m map[string]entry, path string, l limits) {
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
		if e, ok := m[f.key]; ok {
			if v, ok := d.duration(e.val, join(path, f.key), f.positive); ok {
				*f.dst = v
			}
		}
	}
	if e, ok := m["retries"]; ok {
		if v, ok := d.nonNegInt(e.val, join(path, "retries"), MaxRetries); ok {
			*l.retries = v
		}
	}
	if e, ok := m["max_concurrency"]; ok {
		if v, ok := d.nonNegInt(e.val, join(path, "max_concurrency"), 1<<31-1); ok {
			*l.maxConcurrency = v
		}
	}
	if e, ok := m["alert_failures"]; ok {
		if v, ok := d.nonNegInt(e.val, join(path, "alert_failures"), MaxAlertFailures); ok {
			*l.alertFailures = v
		}
	}
	if e, ok := m["concurrency"]; ok {
		if v, ok := d.policy(e.val, join(path, "concurrency"), concurrencyValues); ok {
			*l.concurrency = ConcurrencyPolicy(v)
		}
	}
	if e, ok := m["misfire"]; ok {
		if v, ok := d.policy(e.val, join(path, "misfire"), misfireValues); ok {
			*l.misfire = MisfirePolicy(v)
		}
	}
}

// defaults reads the defaults block into defs and returns the default time
// zone, nil if it is bad (so jobs inheriting it are not reported again).
func (d *decoder) defaults(n *yaml.Node, path string, defs *Defaults) *time.Location {
	loc := time.UTC
	if isNull(n) {
		return loc
	}
	m, ok := d.mapping(n, path, defaultsKeys)
	if !ok {
		return loc
	}
	if e, ok := m["timezone"]; ok {
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

func (d *decoder) history(n *yaml.Node, path string, h *HistoryConfig) {
	if isNull(n) {
		return
	}
	m, ok := d.mapping(n, path, historyKeys)
	if !ok {
		return
	}
	if e, ok := m["keep"]; ok {
		if v, ok := d.duration(e.val, join(path, "keep"), false); ok {
			h.Keep = v
		}
	}
	if e, ok := m["keep_per_job"]; ok {
		if v, ok := d.nonNegInt(e.val, join(path, "keep_per_job"), 1<<31-1); ok {
			h.KeepPerJob = v
		}
	}
}

// notify reads the notify block over the built-in notify defaults in n.
func (d *decoder) notify(n *yaml.Node, path string, nc *NotifyConfig) {
	if isNull(n) {
		return
	}
	m, ok := d.mapping(n, path, notifyKeys)
	if !ok {
		return
	}
	if e, ok := m["webhook"]; ok {
		p := join(path, "webhook")
		if s, ok := d.str(e.val, p); ok {
			if msg := checkURL(s); msg != "" {
				d.errorf(e.val, p, "%s", msg)
			} else {
				nc.Webhook = s
			}
		}
	}
	if e, ok := m["headers"]; ok {
		if h, ok := d.headers(e.val, join(path, "headers")); ok {
			nc.Headers = h
		}
	}
	if e, ok := m["timeout"]; ok {
		if v, ok := d.duration(e.val, join(path, "timeout"), true); ok {
			nc.Timeout = v
		}
	}
	if e, ok := m["retries"]; ok {
		if v, ok := d.nonNegInt(e.val, join(path, "retries"), MaxNotifyRetries); ok {
			nc.Retries = v
		}
	}
}

func (d *decoder) jobs(e entry, defs Defaults, defaultLoc *time.Location) []*Job {
	n := e.val
	if isNull(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0) {
		d.errorf(e.key, "jobs", "no jobs defined")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "jobs", "expected a list of jobs, got %s", describe(n))
		return nil
	}
	var out []*Job
	firstLine := map[string]int{}
	for i, c := range n.Content {
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
	return out
}

// job reads one job, returning it (even when some fields were bad, so the
// caller can still check its name) and the node of a valid name.
func (d *decoder) job(n *yaml.Node, path string, defs Defaults, defaultLoc *time.Location) (*Job, *yaml.Node) {
	m, ok := d.mapping(n, path, jobKeys)
	if !ok {
		return nil, nil
	}
	j := &Job{
		Line:            n.Line,
		Timezone:        defs.Timezone,
		Timeout:         defs.Timeout,
		Retries:         defs.Retries,
		RetryBackoff:    defs.RetryBackoff,
		RetryBackoffMax: defs.RetryBackoffMax,
		Concurrency:     defs.Concurrency,
		Misfire:         defs.Misfire,
		CatchupWindow:   defs.CatchupWindow,
		MaxConcurrency:  defs.MaxConcurrency,
		Jitter:          defs.Jitter,
		AlertLate:       defs.AlertLate,
		AlertFailures:   defs.AlertFailures,
	}

	var nameNode *yaml.Node
	if e, ok := m["name"]; !ok {
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
	j.loc = defaultLoc
	if e, ok := m["timezone"]; ok {
		j.loc = nil
		if loc, ok := d.location(e.val, join(path, "timezone")); ok {
			j.Timezone, j.loc = e.val.Value, loc
		}
	}
	if e, ok := m["schedule"]; !ok {
		d.errorf(n, join(path, "schedule"), "missing required field")
	} else if spec, ok := d.str(e.val, join(path, "schedule")); ok {
		loc := j.loc
		if loc == nil {
			// The zone is bad and reported; still check the spec.
			loc = time.UTC
		}
		if s, err := ParseSchedule(spec, loc); err != nil {
			d.errorf(e.val, join(path, "schedule"), "%s", strings.TrimPrefix(err.Error(), "jobs: "))
		} else {
			j.Schedule, j.sched = normalizeSpec(spec), s
		}
	}

	d.executor(n, m, path, j)

	if e, ok := m["env"]; ok {
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
	d.limits(m, path, limits{
		timeout: &j.Timeout, retryBackoff: &j.RetryBackoff, retryBackoffMax: &j.RetryBackoffMax,
		catchupWindow: &j.CatchupWindow, jitter: &j.Jitter, retries: &j.Retries,
		maxConcurrency: &j.MaxConcurrency, concurrency: &j.Concurrency, misfire: &j.Misfire,
		alertLate: &j.AlertLate, alertFailures: &j.AlertFailures,
	})
	if e, ok := m["paused"]; ok {
		if v, ok := d.boolean(e.val, join(path, "paused")); ok {
			j.Paused = v
		}
	}
	return j, nameNode
}

// executor reads the one executor a job must have.
func (d *decoder) executor(n *yaml.Node, m map[string]entry, path string, j *Job) {
	var set []string
	for _, k := range []string{"command", "shell", "http"} {
		if _, ok := m[k]; ok {
			set = append(set, k)
		}
	}
	sort.SliceStable(set, func(a, b int) bool { return m[set[a]].key.Line < m[set[b]].key.Line })
	switch len(set) {
	case 0:
		d.errorf(n, path, "no executor: set exactly one of command, shell, http")
		return
	case 1:
	default:
		d.errorf(m[set[1]].key, path, "more than one executor (%s): set exactly one of command, shell, http", strings.Join(set, ", "))
		return
	}
	e := m[set[0]]
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

func (d *decoder) http(n *yaml.Node, path string) *HTTPSpec {
	m, ok := d.mapping(n, path, httpKeys)
	if !ok {
		return nil
	}
	spec := &HTTPSpec{Method: "GET"}
	ok = true
	if e, found := m["method"]; found {
		if s, sok := d.str(e.val, join(path, "method")); !sok {
			ok = false
		} else if up := strings.ToUpper(s); !contains(httpMethods, up) {
			d.errorf(e.val, join(path, "method"), "unknown method %q (want one of %s)", s, strings.Join(httpMethods, ", "))
			ok = false
		} else {
			spec.Method = up
		}
	}
	if e, found := m["url"]; !found {
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
	if e, found := m["headers"]; found {
		if h, hok := d.headers(e.val, join(path, "headers")); hok {
			spec.Headers = h
		} else {
			ok = false
		}
	}
	if e, found := m["body"]; found {
		if s, sok := d.str(e.val, join(path, "body")); sok {
			spec.Body = s
		} else {
			ok = false
		}
	}
	if e, found := m["success"]; found {
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
