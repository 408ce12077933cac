package jobfile

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/tock-sched/tock/jobs"
)

// Streaming decode. yaml.v3 has no event API: decoding a document builds
// its whole node tree, about 2 KB of nodes per job, so a file of a million
// jobs peaked at several GiB. parseStream instead cuts the block sequence of
// the top-level jobs key out of the text and decodes it in batches of items
// (batchItems, batchBytes), each batch as a document of its own, while the
// rest of the file (the skeleton: everything but that block) is decoded
// whole. The nodes of a batch are dropped once its jobs are built.
//
// Cutting the text is only right where the layout is plain, so the cut is
// checked and parseStream gives up, and Parse decodes the whole document as
// before, whenever it cannot be sure:
//
//   - the jobs line is exactly "jobs:" at column 0 (a comment may follow),
//     and the skeleton decodes to a mapping whose first jobs key is on that
//     line, with no aliases in the skeleton;
//   - the block holds only lines that start an item ("-" at the column of
//     the first item, then a space or the end of the line), lines indented
//     deeper, blank lines and comments; it ends at the first other line at
//     column 0; any other line less indented than the items, or one that
//     starts with a tab there, gives up;
//   - each batch decodes without a YAML error to one block sequence with
//     exactly as many items as the batch has item lines. A cut inside a
//     quoted scalar or a flow collection leaves one of them unterminated, a
//     YAML error; an alias to an anchor of another batch or of the skeleton
//     is an unknown anchor, a YAML error; so do %TAG handles of the
//     skeleton;
//   - the file has no line breaks other than \n and \r\n (yaml.v3 also
//     breaks lines at a lone \r, NEL, LS and PS).
//
// Every YAML error, in the skeleton or in any batch, makes parseStream give
// up, so syntax errors are reported exactly as the whole-document decode
// reports them. The jobs built from the batches are checked by the same
// code as the jobs of a whole tree, with the nodes' lines moved to the
// lines of the file, so field errors and the parsed config are the same
// (TestStreamMatchesWhole, FuzzParse).

// Batch sizes: a batch ends after batchItems items or at the first item
// line past batchBytes bytes.
const (
	batchItems = 512
	batchBytes = 256 << 10
)

// batch is a run of whole items of the jobs block.
type batch struct {
	start, end int // byte offsets in the file
	line       int // 1-based line of start
	items      int
}

// jobsLayout is where the jobs block lies in the file.
type jobsLayout struct {
	jobsLine   int // the line of "jobs:"
	start, end int // the block: from the line after "jobs:" to the next top-level line
	blockLines int // line breaks in the block
	batches    []batch
}

// plainBreaks reports whether every line break in data is \n or \r\n.
func plainBreaks(data []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], '\r')
		if j < 0 {
			break
		}
		i += j + 1
		if i >= len(data) || data[i] != '\n' {
			return false
		}
	}
	return !bytes.Contains(data, []byte("\xc2\x85")) && !bytes.Contains(data, []byte("\xe2\x80\xa8")) &&
		!bytes.Contains(data, []byte("\xe2\x80\xa9"))
}

// scanJobs finds the jobs block and cuts it into batches; ok is false if the
// layout is not one parseStream can be sure of.
func scanJobs(data []byte) (l jobsLayout, ok bool) {
	if !plainBreaks(data) {
		return l, false
	}
	pos, line := 0, 1
	// next returns the line at pos without its break and moves past it.
	next := func() []byte {
		end := bytes.IndexByte(data[pos:], '\n')
		var text []byte
		if end < 0 {
			text, pos = data[pos:], len(data)
		} else {
			text, pos = data[pos:pos+end], pos+end+1
		}
		line++
		return bytes.TrimSuffix(text, []byte("\r"))
	}
	// The jobs line.
	for {
		if pos >= len(data) {
			return l, false
		}
		l.jobsLine = line
		if rest, found := bytes.CutPrefix(next(), []byte("jobs:")); found {
			// Nothing may follow but a comment ("jobs:#" is a key).
			if trimmed := bytes.TrimLeft(rest, " \t"); len(trimmed) == 0 || (trimmed[0] == '#' && len(trimmed) < len(rest)) {
				break
			}
			return l, false
		}
	}
	l.start = pos
	indent := -1 // column of the items' "-"
	var cur batch
	cut := func(at int) {
		if cur.items > 0 {
			cur.end = at
			l.batches = append(l.batches, cur)
		}
	}
	for pos < len(data) {
		at, atLine := pos, line
		text := next()
		body := bytes.TrimLeft(text, " ")
		col := len(text) - len(body)
		switch {
		case len(bytes.Trim(body, " \t")) == 0:
			continue // blank
		case body[0] == '#':
			continue // a comment, or part of an item's text: either way inside a batch
		case col > indent && indent >= 0:
			continue // inside an item
		case body[0] == '\t':
			return l, false // a tab where the cut is decided: leave it to yaml.v3
		}
		item := body[0] == '-' && (len(body) == 1 || body[1] == ' ')
		switch {
		case indent < 0 && item:
			indent = col
		case col == indent && item:
		case col == 0:
			// The first line of the rest of the file.
			cut(at)
			l.end = at
			l.blockLines = atLine - l.jobsLine - 1
			return l, len(l.batches) > 0
		default:
			return l, false
		}
		if cur.items == batchItems || (cur.items > 0 && at-cur.start >= batchBytes) {
			cut(at)
			cur = batch{}
		}
		if cur.items == 0 {
			cur.start, cur.line = at, atLine
		}
		cur.items++
	}
	cut(len(data))
	l.end = len(data)
	l.blockLines = 0 // nothing follows the block
	return l, len(l.batches) > 0
}

// decodeOne decodes data as exactly one YAML document; nil on any error.
func decodeOne(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil
	}
	return doc.Content[0]
}

// decodeBatch decodes the items of a batch; nil on any error. A batch
// cannot hold a second document (a document marker is a line at column 0,
// which ends the jobs block), so yaml.Unmarshal, which reads the text in
// place, serves: a Decoder copies it through buffers of its own.
func decodeBatch(data []byte) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil
	}
	return doc.Content[0]
}

// decodeChecked decodes batch b of data and moves its lines to the file's;
// nil if it is not the block sequence of b.items items that it must be.
func decodeChecked(data []byte, b batch) *yaml.Node {
	seq := decodeBatch(data[b.start:b.end])
	if seq == nil || seq.Kind != yaml.SequenceNode || seq.Style&yaml.FlowStyle != 0 || len(seq.Content) != b.items {
		return nil
	}
	shiftAll(seq, b.line-1)
	return seq
}

// ahead decodes batches on up to workers goroutines while the caller
// checks the ones before: YAML decoding is most of a load's work, and the
// batches are independent. At most about three batches per worker are
// decoded and not yet taken, so memory stays bounded.
type ahead struct {
	out  chan chan *yaml.Node
	stop chan struct{}
	wg   sync.WaitGroup
}

func decodeAhead(data []byte, batches []batch, workers int) *ahead {
	workers = max(1, workers)
	a := &ahead{out: make(chan chan *yaml.Node, 2*workers), stop: make(chan struct{})}
	sem := make(chan struct{}, workers)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(a.out)
		for _, b := range batches {
			res := make(chan *yaml.Node, 1)
			select {
			case sem <- struct{}{}:
			case <-a.stop:
				return
			}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				defer func() { <-sem }()
				res <- decodeChecked(data, b)
			}()
			select {
			case a.out <- res:
			case <-a.stop:
				return
			}
		}
	}()
	return a
}

// next returns the next batch's items in order, nil if it failed.
func (a *ahead) next() *yaml.Node {
	res, ok := <-a.out
	if !ok {
		return nil
	}
	return <-res
}

// close stops decoding and waits for the goroutines.
func (a *ahead) close() {
	close(a.stop)
	a.wg.Wait()
}

// shiftLines moves the lines of n's tree: by add if they are after line
// from. It reports false if the tree holds an alias.
func shiftLines(n *yaml.Node, from, add int) bool {
	if n.Kind == yaml.AliasNode {
		return false
	}
	if n.Line > from {
		n.Line += add
	}
	for _, c := range n.Content {
		if !shiftLines(c, from, add) {
			return false
		}
	}
	return true
}

// shiftAll moves every line of n's tree by add (aliases point into the
// same tree, whose nodes are all moved once).
func shiftAll(n *yaml.Node, add int) {
	n.Line += add
	for _, c := range n.Content {
		shiftAll(c, add)
	}
}

// parseStream decodes data as described at the top of this file; ok false
// means the caller must decode the whole document (d is then dirty).
func (d *decoder) parseStream(data []byte) (cfg *jobs.Config, ok bool) {
	l, ok := scanJobs(data)
	if !ok {
		return nil, false
	}
	skeleton := make([]byte, 0, l.start+len(data)-l.end)
	skeleton = append(append(skeleton, data[:l.start]...), data[l.end:]...)
	root := decodeOne(skeleton)
	if root == nil || root.Kind != yaml.MappingNode || !shiftLines(root, l.jobsLine, l.blockLines) {
		return nil, false
	}
	found := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "jobs" {
			found = k.Line == l.jobsLine && k.Column == 1 && k.ShortTag() == "!!str" && isNull(v) && v.Value == ""
			break
		}
	}
	if !found {
		return nil, false
	}
	failed := false
	items := func(yield func(*yaml.Node) bool) {
		ahead := decodeAhead(data, l.batches, runtime.GOMAXPROCS(0))
		defer ahead.close()
		for range l.batches {
			seq := ahead.next()
			if seq == nil {
				failed = true
				return
			}
			for _, item := range seq.Content {
				if !yield(item) {
					return
				}
			}
		}
	}
	cfg = d.config(root, items)
	if failed {
		return nil, false
	}
	return cfg, true
}
