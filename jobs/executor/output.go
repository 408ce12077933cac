package executor

import (
	"sync"
	"unicode/utf8"

	"github.com/tock-sched/tock/jobs"
)

// CappedBuffer is an io.Writer that keeps at most a fixed number of bytes of
// what is written to it: the first half and the last half, counting the bytes
// cut from the middle (I8). It uses O(limit) memory however much is written,
// so a job printing gigabytes costs tock no more than its output limit.
//
// The zero value keeps nothing and counts every byte as dropped. A
// CappedBuffer is safe for concurrent use.
type CappedBuffer struct {
	mu      sync.Mutex
	headMax int
	tailMax int
	head    []byte // the first bytes written, up to headMax
	tail    []byte // ring of the last bytes written, up to tailMax
	start   int    // index of the oldest byte in tail once it is full
	total   int64
}

// NewCappedBuffer returns a buffer that keeps at most limit bytes: the first
// limit/2 and the last limit−limit/2. A limit ≤ 0 keeps nothing.
func NewCappedBuffer(limit int) *CappedBuffer {
	if limit < 0 {
		limit = 0
	}
	return &CappedBuffer{headMax: limit / 2, tailMax: limit - limit/2}
}

// Write keeps what fits in the head, then the tail ring. It never fails.
func (b *CappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += int64(n)

	// head and tail grow as output comes: most jobs print a few lines,
	// and a run should not cost its whole output limit in memory.
	if room := b.headMax - len(b.head); room > 0 && len(p) > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 || b.tailMax == 0 {
		return n, nil
	}
	if len(p) >= b.tailMax {
		// p alone fills the ring: keep its end, in order.
		if cap(b.tail) < b.tailMax {
			b.tail = make([]byte, b.tailMax)
		}
		b.tail = b.tail[:b.tailMax]
		copy(b.tail, p[len(p)-b.tailMax:])
		b.start = 0
		return n, nil
	}
	if room := b.tailMax - len(b.tail); room > 0 {
		// The ring is still filling; start stays 0.
		k := min(room, len(p))
		b.tail = append(b.tail, p[:k]...)
		p = p[k:]
	}
	if len(p) > 0 {
		c := copy(b.tail[b.start:], p)
		copy(b.tail, p[c:])
		b.start = (b.start + len(p)) % b.tailMax
	}
	return n, nil
}

// Len is the number of bytes written so far, kept or not.
func (b *CappedBuffer) Len() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// Dropped is the number of bytes cut from the middle: Len minus the bytes
// String renders around its marker.
func (b *CappedBuffer) Dropped() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, _, dropped := b.parts()
	return dropped
}

// String renders the head, then a marker naming the dropped byte count if
// anything was dropped, then the tail:
//
//	head + "\n… [N bytes dropped] …\n" + tail
//
// A cut never splits a UTF-8 sequence: the partial rune at the end of the
// head and continuation bytes at the start of the tail are dropped too, so
// text output stays valid UTF-8.
func (b *CappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	head, tail, dropped := b.parts()
	if dropped == 0 {
		return string(head) + string(tail)
	}
	return string(head) + DroppedMarker(dropped) + string(tail)
}

// DroppedMarker is the text CappedBuffer.String puts where n bytes were cut
// (jobs.DroppedMarker).
func DroppedMarker(n int64) string { return jobs.DroppedMarker(n) }

// Snapshot returns, under one lock, what String and Dropped would return
// and Len: a consistent view of the output so far while the job still
// writes (live output). It copies at most the buffer's limit.
func (b *CappedBuffer) Snapshot() (output string, dropped, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	head, tail, dropped := b.parts()
	if dropped == 0 {
		return string(head) + string(tail), 0, b.total
	}
	return string(head) + DroppedMarker(dropped) + string(tail), dropped, b.total
}

// parts returns the kept head and tail (the tail unrolled from the ring) and
// the number of bytes between them.
func (b *CappedBuffer) parts() (head, tail []byte, dropped int64) {
	head = b.head
	if b.start == 0 {
		tail = b.tail
	} else {
		tail = make([]byte, 0, len(b.tail))
		tail = append(tail, b.tail[b.start:]...)
		tail = append(tail, b.tail[:b.start]...)
	}
	dropped = b.total - int64(len(head)) - int64(len(tail))
	if dropped == 0 {
		return head, tail, 0
	}
	head = trimPartialRuneSuffix(head)
	tail = trimContinuationPrefix(tail)
	return head, tail, b.total - int64(len(head)) - int64(len(tail))
}

// trimPartialRuneSuffix cuts an incomplete UTF-8 sequence off the end of p.
func trimPartialRuneSuffix(p []byte) []byte {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				return p[:i]
			}
			return p
		}
	}
	return p
}

// trimContinuationPrefix cuts the continuation bytes of a sequence whose
// start was dropped off the front of p.
func trimContinuationPrefix(p []byte) []byte {
	for i := 0; i < len(p) && i < utf8.UTFMax-1; i++ {
		if utf8.RuneStart(p[i]) {
			return p[i:]
		}
	}
	if len(p) >= utf8.UTFMax-1 {
		return p[utf8.UTFMax-1:]
	}
	return p[len(p):]
}
