package jobfile

import (
	"strconv"
	"strings"
)

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
