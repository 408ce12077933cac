package executor

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// naiveCapped keeps everything and cuts at the end: the model CappedBuffer
// must agree with.
type naiveCapped struct {
	limit int
	all   []byte
}

func (n *naiveCapped) render() (string, int64) {
	if len(n.all) <= n.limit {
		return string(n.all), 0
	}
	headMax := n.limit / 2
	tailMax := n.limit - headMax
	head := trimPartialRuneSuffix(n.all[:headMax])
	tail := trimContinuationPrefix(n.all[len(n.all)-tailMax:])
	dropped := int64(len(n.all) - len(head) - len(tail))
	return string(head) + DroppedMarker(dropped) + string(tail), dropped
}

func TestCappedBufferMatchesNaive(t *testing.T) {
	t.Parallel()
	alphabets := map[string][]byte{
		"ascii": []byte("abcdefghij\n"),
		"utf8":  []byte("aé€😀\n"), // 1-, 2-, 3- and 4-byte runes
	}
	limits := []int{0, 1, 2, 3, 4, 5, 7, 8, 10, 64, 1000}
	for name, alphabet := range alphabets {
		for _, limit := range limits {
			for seed := uint64(1); seed <= 20; seed++ {
				rng := rand.New(rand.NewPCG(seed, uint64(limit)))
				b := NewCappedBuffer(limit)
				model := &naiveCapped{limit: limit}
				for i := 0; i < 60; i++ {
					var size int
					switch rng.IntN(4) {
					case 0:
						size = rng.IntN(4) // tiny, including empty
					case 1:
						size = rng.IntN(limit/2 + 2)
					case 2:
						size = limit/2 + rng.IntN(limit+2) // around the ring size
					default:
						size = rng.IntN(3*limit + 17) // often wraps the ring
					}
					p := make([]byte, size)
					for k := range p {
						p[k] = alphabet[rng.IntN(len(alphabet))]
					}
					if n, err := b.Write(p); n != size || err != nil {
						t.Fatalf("Write = %d, %v; want %d, nil", n, err, size)
					}
					model.all = append(model.all, p...)

					wantS, wantDropped := model.render()
					if got := b.String(); got != wantS {
						t.Fatalf("%s limit %d seed %d write %d: String =\n%q\nwant\n%q", name, limit, seed, i, got, wantS)
					}
					if got := b.Dropped(); got != wantDropped {
						t.Fatalf("%s limit %d seed %d write %d: Dropped = %d, want %d", name, limit, seed, i, got, wantDropped)
					}
					if got := b.Len(); got != int64(len(model.all)) {
						t.Fatalf("Len = %d, want %d", got, len(model.all))
					}
				}
			}
		}
	}
}

func TestCappedBufferASCIIKeepsExactlyLimit(t *testing.T) {
	t.Parallel()
	b := NewCappedBuffer(10)
	for i := 0; i < 100; i++ {
		_, _ = b.Write([]byte{byte('0' + i%10)})
	}
	want := "01234" + DroppedMarker(90) + "56789"
	if got := b.String(); got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}

func TestCappedBufferMemoryIsBounded(t *testing.T) {
	const limit = 4096
	b := NewCappedBuffer(limit)
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<12) // 64 KiB
	for written := 0; written < 16<<20; {
		n := 1 + (written*7919)%len(chunk)
		_, _ = b.Write(chunk[:n])
		written += n
	}
	if cap(b.head) > limit/2 || cap(b.tail) > limit-limit/2 {
		t.Fatalf("buffers grew to %d+%d bytes for a %d-byte limit", cap(b.head), cap(b.tail), limit)
	}
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = b.Write(chunk[:1000])
		_, _ = b.Write(chunk)
	})
	if allocs != 0 {
		t.Fatalf("a full buffer allocates %v times per Write", allocs)
	}
}

func TestCappedBufferZeroValueKeepsNothing(t *testing.T) {
	t.Parallel()
	var b CappedBuffer
	_, _ = b.Write([]byte("hello"))
	if got, want := b.String(), DroppedMarker(5); got != want || b.Dropped() != 5 {
		t.Fatalf("String = %q, Dropped = %d; want %q, 5", got, b.Dropped(), want)
	}
	if got := NewCappedBuffer(-3).String(); got != "" {
		t.Fatalf("empty buffer renders %q", got)
	}
}

func TestCappedBufferConcurrentWriters(t *testing.T) {
	t.Parallel()
	b := NewCappedBuffer(100)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				_, _ = b.Write([]byte("line\n"))
			}
		}()
	}
	wg.Wait()
	if b.Len() != 8*1000*5 || b.Dropped() != 8*1000*5-100 {
		t.Fatalf("Len = %d, Dropped = %d", b.Len(), b.Dropped())
	}
}

func TestTrimPartialRuneSuffix(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"ab\xc3", "ab"},                         // first byte of é
		{"abé", "abé"},                           // complete
		{"a\xe2\x82", "a"},                       // two bytes of €
		{"a€", "a€"},                             // complete
		{"a\xf0\x9f\x98", "a"},                   // three bytes of 😀
		{"a😀", "a😀"},                             // complete
		{"\x80\x80\x80\x80", "\x80\x80\x80\x80"}, // garbage stays
		{"a\xff", "a\xff"},                       // invalid byte is not a partial rune
	}
	for _, tt := range tests {
		if got := string(trimPartialRuneSuffix([]byte(tt.in))); got != tt.want {
			t.Errorf("trimPartialRuneSuffix(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTrimContinuationPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"\xa9bc", "bc"},                // tail of é
		{"\x82\xacx", "x"},              // tail of €
		{"\x9f\x98\x80x", "x"},          // tail of 😀
		{"\x80", ""},                    // nothing but a tail
		{"\x80\x80\x80\x80x", "\x80x"},  // at most three bytes go
		{"é", "é"},                      // a rune start stays
		{strings.Repeat("\x80", 2), ""}, // short garbage
	}
	for _, tt := range tests {
		if got := string(trimContinuationPrefix([]byte(tt.in))); got != tt.want {
			t.Errorf("trimContinuationPrefix(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCappedBufferCutKeepsUTF8Valid(t *testing.T) {
	t.Parallel()
	b := NewCappedBuffer(9)
	_, _ = b.Write([]byte(strings.Repeat("€", 10))) // 30 bytes
	// Head: 4 bytes → one € and a partial one; tail: 5 bytes → a partial € and one.
	want := "€" + DroppedMarker(24) + "€"
	if got := b.String(); got != want || b.Dropped() != 24 {
		t.Fatalf("String = %q (dropped %d), want %q", got, b.Dropped(), want)
	}
}
