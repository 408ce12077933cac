package jobs

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// DroppedMarker is the text that stands in captured output where n bytes
// were cut from its middle (I8): the output keeps its head and its tail.
func DroppedMarker(n int64) string {
	return "\n… [" + strconv.FormatInt(n, 10) + " bytes dropped] …\n"
}

// OutputBytes is how many bytes a job wrote to produce output, an
// attempt's captured output with dropped bytes cut from its middle (and
// DroppedMarker in their place): the bytes kept plus the bytes dropped.
func OutputBytes(output string, dropped int64) int64 {
	if dropped <= 0 {
		return int64(len(output))
	}
	return int64(len(output)-len(DroppedMarker(dropped))) + dropped
}

// OutputSince returns what of output (as OutputBytes describes it) a
// reader who has seen the job's first from bytes has not seen yet, and
// the offset to read from next. Bytes dropped from the middle that the
// reader had not seen are rendered as a DroppedMarker of their count, so
// appending every answer to what came before renders the whole output as
// well as it was kept. Unless final, an incomplete UTF-8 sequence at the
// end is held back for the next call (a flush may cut a rune in two).
//
// Live snapshots and the final output of one attempt come from the same
// capped buffer, so the offsets of each are offsets into the same stream
// of bytes. A job that prints the very marker of its own dropped count can
// make the cut look later than it is; the reader then sees a marker for
// bytes it had seen, never misses bytes that were kept.
func OutputSince(output string, dropped, from int64, final bool) (text string, next int64) {
	total := OutputBytes(output, dropped)
	from = max(from, 0)
	if from >= total {
		return "", max(from, total)
	}
	switch m := DroppedMarker(dropped); {
	case dropped <= 0:
		text = output[from:]
	case strings.Contains(output, m):
		i := strings.LastIndex(output, m)
		head, tail := output[:i], output[i+len(m):]
		tailStart := total - int64(len(tail))
		switch {
		case from >= tailStart:
			text = tail[from-tailStart:]
		case from < int64(len(head)):
			text = head[from:] + DroppedMarker(tailStart-int64(len(head))) + tail
		default:
			text = DroppedMarker(tailStart-from) + tail
		}
	default:
		// Not rendered by a capped buffer: all of it, once.
		if from > 0 {
			return "", total
		}
		text = output
	}
	next = total
	if !final {
		kept := trimPartialRune(text)
		next -= int64(len(text) - len(kept))
		text = kept
	}
	return text, next
}

// trimPartialRune cuts an incomplete UTF-8 sequence off the end of s.
func trimPartialRune(s string) string {
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				return s[:i]
			}
			return s
		}
	}
	return s
}
