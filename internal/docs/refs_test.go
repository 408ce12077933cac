package docs

import (
	"errors"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the repository's top directory, seen from this package.
const repoRoot = "../.."

// designDoc is the design document, relative to repoRoot.
const designDoc = "docs/design.md"

// textFile is a file of the repository that documentation checks read.
type textFile struct {
	rel  string // slash-separated, relative to repoRoot
	text string
}

// repoFiles returns every file of the repository whose name ends in one of
// exts (e.g. ".go"), or equals one of them (e.g. "Makefile"), skipping the
// .git directory.
func repoFiles(t *testing.T, exts ...string) []textFile {
	t.Helper()
	if _, err := os.Stat(filepath.Join(repoRoot, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", repoRoot, err)
	}
	var files []textFile
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !slices.ContainsFunc(exts, func(e string) bool { return d.Name() == e || strings.HasSuffix(d.Name(), e) }) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repoRoot, path)
		if err != nil {
			return err
		}
		files = append(files, textFile{rel: filepath.ToSlash(rel), text: string(b)})
		return nil
	})
	if err != nil {
		t.Fatalf("walking the repository: %v", err)
	}
	if len(files) == 0 {
		t.Fatalf("no %v files under %s", exts, repoRoot)
	}
	return files
}

// goComments returns the comments of a Go file, each with the line it
// starts on. It tokenizes rather than parses, so files that do not compile
// (testdata) are read too.
func goComments(name, src string) []lineText {
	fset := token.NewFileSet()
	f := fset.AddFile(name, -1, len(src))
	var s scanner.Scanner
	s.Init(f, []byte(src), func(token.Position, string) {}, scanner.ScanComments)
	var out []lineText
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return out
		}
		if tok == token.COMMENT {
			out = append(out, lineText{line: fset.Position(pos).Line, text: lit})
		}
	}
}

// lineText is text found at a line of a file.
type lineText struct {
	line int
	text string
}

// prose returns the parts of a file that documentation is written in: a
// Go file's comments, or a whole Markdown file.
func prose(f textFile) []lineText {
	if strings.HasSuffix(f.rel, ".go") {
		return goComments(f.rel, f.text)
	}
	return []lineText{{line: 1, text: f.text}}
}

// lineOf returns the line of offset i within p.
func lineOf(p lineText, i int) int { return p.line + strings.Count(p.text[:i], "\n") }

// TestNoReferenceOutsideRepository fails when a file refers to design
// documents that are not part of the repository: a directory of shared
// notes next to it, or an upper-case DESIGN file and its sections. The
// repository's own design document is docs/design.md.
func TestNoReferenceOutsideRepository(t *testing.T) {
	t.Parallel()
	// Spelled in pieces so that this file does not match itself.
	needles := []string{"shared" + "/", "DESIGN" + ".md", "DESIGN" + " §"}
	for _, f := range repoFiles(t, ".go", ".md", ".sh", ".yml", ".yaml", ".sql", "Makefile", "Dockerfile") {
		for _, n := range needles {
			if i := strings.Index(f.text, n); i >= 0 {
				line := 1 + strings.Count(f.text[:i], "\n")
				t.Errorf("%s:%d: refers to %q, which is not in the repository; cite %s and its sections instead", f.rel, line, n, designDoc)
			}
		}
	}
}

// citation matches an invariant cited by name: "(I3)", "I3:", "I10,",
// "I1–I8", "(I4, I7)". The number must stand alone, so identifiers and
// paths (I2C, -I2, a/I1) do not count.
var citation = regexp.MustCompile(`\bI([1-9][0-9]?)\b`)

// citedInvariant reports whether the match of citation at text[i:j] is an
// invariant rather than part of a path, flag or longer token.
func citedInvariant(text string, i, j int) bool {
	if i > 0 && strings.ContainsRune("-_/.$%", rune(text[i-1])) {
		return false
	}
	if j < len(text) && strings.ContainsRune("/_", rune(text[j])) {
		return false
	}
	return true
}

// definition matches an invariant defined in the design document: as a
// heading ("### I4 Exactly-once start") or a bold term ("**I4 …**").
var definition = regexp.MustCompile(`(?m)^#{2,6}\s+I([1-9][0-9]?)\s|\*\*I([1-9][0-9]?)\b`)

// definedInvariants returns the numbers of the invariants docs/design.md
// defines, in the order it defines them.
func definedInvariants(t *testing.T) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, designDoc))
	if err != nil {
		t.Fatal(err)
	}
	var nums []int
	for _, m := range definition.FindAllStringSubmatch(string(b), -1) {
		s := m[1] + m[2]
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: invariant number %q: %v", designDoc, s, err)
		}
		nums = append(nums, n)
	}
	return nums
}

// TestInvariantsDefined checks that docs/design.md defines the invariants
// I1, I2, … once each, without gaps, and that every invariant cited in a Go
// comment or a Markdown file of the repository is one of them.
func TestInvariantsDefined(t *testing.T) {
	t.Parallel()
	defined := definedInvariants(t)
	if len(defined) == 0 {
		t.Fatalf("%s defines no invariant (want headings like \"### I1 One history row per tick\")", designDoc)
	}
	for i, n := range defined {
		if n != i+1 {
			t.Fatalf("%s defines the invariants %v; want I1, I2, … in order, each once", designDoc, defined)
		}
	}
	cited := 0
	for _, f := range repoFiles(t, ".go", ".md") {
		for _, p := range prose(f) {
			for _, m := range citation.FindAllStringSubmatchIndex(p.text, -1) {
				if !citedInvariant(p.text, m[0], m[1]) {
					continue
				}
				cited++
				n, _ := strconv.Atoi(p.text[m[2]:m[3]])
				if n > len(defined) {
					t.Errorf("%s:%d: cites I%d, which %s does not define (it defines I1–I%d)",
						f.rel, lineOf(p, m[0]), n, designDoc, len(defined))
				}
			}
		}
	}
	// The code cites invariants in many places; none found means the
	// scan is broken, not that the code is clean.
	if cited < 20 {
		t.Fatalf("found only %d invariant citations in the repository; the scan is broken", cited)
	}
}

// TestCitationPattern pins down what counts as an invariant citation.
func TestCitationPattern(t *testing.T) {
	t.Parallel()
	cases := []struct {
		text string
		want []string
	}{
		{"(I3)", []string{"I3"}},
		{"I3: the lease", []string{"I3"}},
		{"(I4, I7)", []string{"I4", "I7"}},
		{"I10, I11.", []string{"I10", "I11"}},
		{"(I4,\n// I7)", []string{"I4", "I7"}},
		{"invariants I1–I8", []string{"I1", "I8"}},
		{"— I7 —", []string{"I7"}},
		{"I/O and I2C and gcc -I2 and a/I1 and I1/b and $I1", nil},
		{"ID1 IX I0 I123", nil},
	}
	for _, c := range cases {
		var got []string
		for _, m := range citation.FindAllStringIndex(c.text, -1) {
			if citedInvariant(c.text, m[0], m[1]) {
				got = append(got, c.text[m[0]:m[1]])
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("citations in %q = %v, want %v", c.text, got, c.want)
		}
	}
}

// slug is the anchor GitHub gives a Markdown heading: lower case, spaces as
// hyphens, punctuation other than hyphens and underscores dropped.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// headingLine matches an ATX heading.
var headingLine = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*\s*$`)

// anchors returns the anchors of a Markdown file's headings, with GitHub's
// -1, -2 suffixes for repeated headings. Headings inside fenced code blocks
// do not count.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		m := headingLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		// Inline code and emphasis markers vanish from anchors.
		s := slug(strings.NewReplacer("`", "", "*", "").Replace(m[1]))
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// mdLink matches an inline Markdown link or image: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// mdAnchorRef matches a section of a Markdown file named in a Go comment,
// e.g. docs/design.md#run-lifecycle, relative to the repository root.
var mdAnchorRef = regexp.MustCompile(`([A-Za-z0-9_./-]+\.md)#([A-Za-z0-9_-]+)`)

// TestLinksResolve checks that every relative link of a Markdown file, and
// every Markdown section named in a Go comment (docs/design.md#layout),
// exists inside the repository, and that each #section it names is a
// heading of that file.
func TestLinksResolve(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	anchorCache := map[string]map[string]bool{}
	resolve := func(from string, line int, target, frag string) {
		t.Helper()
		abs := filepath.Clean(filepath.Join(root, filepath.FromSlash(target)))
		if abs != root && !strings.HasPrefix(abs, root+string(filepath.Separator)) {
			t.Errorf("%s:%d: %s points outside the repository", from, line, target)
			return
		}
		if _, err := os.Stat(abs); err != nil {
			t.Errorf("%s:%d: %s does not exist", from, line, target)
			return
		}
		if frag == "" || !strings.HasSuffix(abs, ".md") {
			return
		}
		as, ok := anchorCache[abs]
		if !ok {
			b, err := os.ReadFile(abs)
			if err != nil {
				t.Fatal(err)
			}
			as = anchors(string(b))
			anchorCache[abs] = as
		}
		if !as[frag] {
			t.Errorf("%s:%d: %s has no section #%s", from, line, target, frag)
		}
	}
	for _, f := range repoFiles(t, ".md", ".go") {
		if strings.HasSuffix(f.rel, ".go") {
			for _, p := range goComments(f.rel, f.text) {
				for _, m := range mdAnchorRef.FindAllStringSubmatchIndex(p.text, -1) {
					resolve(f.rel, lineOf(p, m[0]), p.text[m[2]:m[3]], p.text[m[4]:m[5]])
				}
			}
			continue
		}
		dir := filepath.ToSlash(filepath.Dir(f.rel))
		for _, m := range mdLink.FindAllStringSubmatchIndex(f.text, -1) {
			link := f.text[m[2]:m[3]]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target, frag, _ := strings.Cut(link, "#")
			line := 1 + strings.Count(f.text[:m[0]], "\n")
			if target == "" {
				target = filepath.Base(f.rel) // a section of this file
			}
			resolve(f.rel, line, pathJoin(dir, target), frag)
		}
	}
}

// pathJoin joins slash-separated paths relative to the repository root.
func pathJoin(dir, rel string) string {
	if dir == "." {
		return rel
	}
	return dir + "/" + rel
}

// codePath matches an inline-code span that looks like a repository path:
// `scheduler/dispatch.go`, `migrations/mysql/`, `jobs/shim*.go`.
var codePath = regexp.MustCompile("`([A-Za-z0-9_.*-]+(?:/[A-Za-z0-9_.*-]+)*/?)`")

// ignoredOutputs returns the plain paths .gitignore lists (generated
// outputs such as bench/results.md), without a leading slash.
func ignoredOutputs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".gitignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.ContainsAny(line, "*?[!") {
			continue
		}
		out = append(out, strings.Trim(line, "/"))
	}
	return out
}

// TestDocumentedPathsExist checks that every repository path written as
// inline code in the Markdown files (`worker/pool.go`) exists, so that the
// architecture and design documents follow files that move. Spans whose
// first element is not a top-level entry of the repository (`mysql/`,
// `/metrics`) are not paths of it, and outputs .gitignore lists are not
// committed; both are ignored.
func TestDocumentedPathsExist(t *testing.T) {
	t.Parallel()
	top, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	topNames := map[string]bool{}
	for _, e := range top {
		topNames[e.Name()] = true
	}
	ignored := ignoredOutputs(t)
	checked := 0
	for _, f := range repoFiles(t, ".md") {
		for _, m := range codePath.FindAllStringSubmatchIndex(f.text, -1) {
			p := f.text[m[2]:m[3]]
			first, _, nested := strings.Cut(p, "/")
			if !nested || !topNames[first] {
				continue
			}
			if slices.ContainsFunc(ignored, func(ig string) bool {
				clean := strings.TrimSuffix(p, "/")
				return clean == ig || strings.HasPrefix(clean, ig+"/")
			}) {
				continue
			}
			checked++
			hits, err := filepath.Glob(filepath.Join(repoRoot, filepath.FromSlash(strings.TrimSuffix(p, "/"))))
			if err != nil || len(hits) == 0 {
				line := 1 + strings.Count(f.text[:m[0]], "\n")
				t.Errorf("%s:%d: `%s` does not exist in the repository", f.rel, line, p)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d paths in the Markdown files; the scan is broken", checked)
	}
}

// testName matches the name of a Go test, benchmark or fuzz target.
var testName = regexp.MustCompile(`\b((?:Test|Benchmark|Fuzz)[A-Z][A-Za-z0-9_]*)\b`)

// testFunc matches the declaration of one.
var testFunc = regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)[A-Z][A-Za-z0-9_]*)\(`)

// TestNamedTestsExist checks that every test, benchmark or fuzz target a
// Markdown file names (so a reader can run it with -run) exists, or is the
// prefix of declared tests (a -run pattern such as TestFault).
func TestNamedTestsExist(t *testing.T) {
	t.Parallel()
	funcs := map[string]bool{}
	for _, f := range repoFiles(t, "_test.go") {
		for _, m := range testFunc.FindAllStringSubmatch(f.text, -1) {
			funcs[m[1]] = true
		}
	}
	for _, f := range repoFiles(t, ".md") {
		for _, m := range testName.FindAllStringSubmatchIndex(f.text, -1) {
			name := f.text[m[2]:m[3]]
			if name == "TestMain" || funcs[name] || prefixOfAny(name, funcs) {
				continue
			}
			line := 1 + strings.Count(f.text[:m[0]], "\n")
			t.Errorf("%s:%d: names %s, which no _test.go file declares", f.rel, line, name)
		}
	}
}

// prefixOfAny reports whether some declared test name starts with name.
func prefixOfAny(name string, funcs map[string]bool) bool {
	for f := range funcs {
		if strings.HasPrefix(f, name) {
			return true
		}
	}
	return false
}
