package jobfile

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

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
