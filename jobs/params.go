package jobs

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Limits on parameters.
const (
	// MaxParams bounds the parameters one job declares.
	MaxParams = 64
	// MaxParamNameLen is the longest parameter name.
	MaxParamNameLen = 64
	// MaxParamValueLen is the longest parameter value, in bytes.
	MaxParamValueLen = 4096
	// ParamEnvPrefix starts the environment variable that carries a
	// parameter to a command or shell job: TOCK_PARAM_ and the name in
	// upper case.
	ParamEnvPrefix = "TOCK_PARAM_"
)

var paramNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Param is one parameter a job declares.
type Param struct {
	Name string `json:"name"`
	// Default is the value a run gets when its trigger does not set the
	// parameter; nil makes the parameter required for manual triggers.
	Default *string `json:"default,omitempty"`
	// Pattern, when set, is a Go regular expression every value (the
	// default included) must match in full.
	Pattern string `json:"pattern,omitempty"`

	re *regexp.Regexp
}

// ParamSpec is what a job declares under params:, in file order. A job
// without params has a nil *ParamSpec (jobs.Job stays small).
type ParamSpec struct {
	List []Param
}

// MarshalJSON writes the spec as the list of its parameters.
func (s *ParamSpec) MarshalJSON() ([]byte, error) { return json.Marshal(s.List) }

// ParamError is a parameter that a trigger cannot set: undeclared,
// missing, or an invalid value. Param names it.
type ParamError struct {
	Param  string
	Reason string
}

func (e *ParamError) Error() string { return fmt.Sprintf("param %q: %s", e.Param, e.Reason) }

// CheckParamName returns why name cannot name a parameter, or "".
func CheckParamName(name string) string {
	switch {
	case name == "":
		return "empty parameter name"
	case len(name) > MaxParamNameLen:
		return fmt.Sprintf("parameter name longer than %d characters", MaxParamNameLen)
	case !paramNameRE.MatchString(name):
		return fmt.Sprintf("invalid parameter name %q: use letters, digits and '_', not starting with a digit", name)
	}
	return ""
}

// NewParam checks and compiles one declared parameter. The pattern is
// anchored: a value must match it in full.
func NewParam(name string, def *string, pattern string) (Param, error) {
	if msg := CheckParamName(name); msg != "" {
		return Param{}, fmt.Errorf("%s", msg)
	}
	p := Param{Name: name, Default: def, Pattern: pattern}
	if pattern != "" {
		re, err := regexp.Compile(`^(?:` + pattern + `)$`)
		if err != nil {
			return Param{}, fmt.Errorf("invalid pattern %q: %v", pattern, err)
		}
		p.re = re
	}
	if def != nil {
		if msg := p.checkValue(*def); msg != "" {
			return Param{}, fmt.Errorf("default: %s", msg)
		}
	}
	return p, nil
}

// checkValue returns why v cannot be a value of p, or "".
func (p *Param) checkValue(v string) string {
	switch {
	case len(v) > MaxParamValueLen:
		return fmt.Sprintf("value longer than %d bytes", MaxParamValueLen)
	case strings.IndexByte(v, 0) >= 0:
		return "value contains a NUL byte"
	case p.re != nil && !p.re.MatchString(v):
		return fmt.Sprintf("value %q does not match pattern %q", v, p.Pattern)
	}
	return ""
}

// EnvName is the environment variable carrying parameter name.
func EnvName(name string) string { return ParamEnvPrefix + strings.ToUpper(name) }

// Resolve checks the parameters a trigger sets against the spec and returns
// every declared parameter's value: given, else its default. An undeclared
// name, a required parameter not given or a value the parameter refuses is
// a *ParamError. A nil spec accepts only no parameters.
func (s *ParamSpec) Resolve(given map[string]string) (map[string]string, error) {
	names := make([]string, 0, len(given))
	for k := range given {
		names = append(names, k)
	}
	sort.Strings(names)
	var list []Param
	if s != nil {
		list = s.List
	}
	for _, k := range names {
		i := paramIndex(list, k)
		if i < 0 {
			if len(list) == 0 {
				return nil, &ParamError{k, "the job declares no params"}
			}
			return nil, &ParamError{k, fmt.Sprintf("not declared by the job (declared: %s)", paramNames(list))}
		}
		if msg := list[i].checkValue(given[k]); msg != "" {
			return nil, &ParamError{k, msg}
		}
	}
	if len(list) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(list))
	for _, p := range list {
		if v, ok := given[p.Name]; ok {
			out[p.Name] = v
			continue
		}
		if p.Default == nil {
			return nil, &ParamError{p.Name, "required: the job declares it without a default"}
		}
		out[p.Name] = *p.Default
	}
	return out, nil
}

// Defaults returns every declared parameter's default, leaving out the
// required ones: what a scheduled run gets. Nil for a nil spec.
func (s *ParamSpec) Defaults() map[string]string {
	if s == nil || len(s.List) == 0 {
		return nil
	}
	out := make(map[string]string, len(s.List))
	for _, p := range s.List {
		if p.Default != nil {
			out[p.Name] = *p.Default
		}
	}
	return out
}

func paramIndex(list []Param, name string) int {
	for i := range list {
		if list[i].Name == name {
			return i
		}
	}
	return -1
}

func paramNames(list []Param) string {
	names := make([]string, len(list))
	for i, p := range list {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// ParamsForRun returns the parameters a run of j executes with: the run's
// own (set by a manual trigger, defaults filled in by the leader when it
// queued the run) checked again against j, or j's defaults for a run that
// carries none (a scheduled, catch-up or backfilled tick: a parameter
// without a default is then not set). An error means the run cannot
// execute with this definition.
func (j *Job) ParamsForRun(run map[string]string) (map[string]string, error) {
	if len(run) == 0 {
		return j.params().Defaults(), nil
	}
	return j.params().Resolve(run)
}
