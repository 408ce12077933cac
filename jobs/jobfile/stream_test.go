package jobfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sameAsWhole checks that Parse (streaming where it can) answers data
// exactly as decoding the whole document does: the same errors, or the same
// config.
func sameAsWhole(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := parse("f.yaml", data, true)
	want, wantErr := parse("f.yaml", data, false)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("streaming error %v, whole-document error %v", gotErr, wantErr)
	}
	if wantErr != nil {
		var g, w *ConfigError
		if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) || !reflect.DeepEqual(g.Errors, w.Errors) {
			t.Fatalf("errors differ:\nstreaming:\n%v\nwhole document:\n%v", gotErr, wantErr)
		}
		return
	}
	if got.Digest != want.Digest || got.Path != want.Path || !reflect.DeepEqual(got.Defaults, want.Defaults) ||
		!reflect.DeepEqual(got.History, want.History) || !reflect.DeepEqual(got.Notify, want.Notify) ||
		len(got.Jobs) != len(want.Jobs) {
		t.Fatalf("configs differ:\nstreaming %+v\nwhole document %+v", got, want)
	}
	from := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
	for i, g := range got.Jobs {
		w := want.Jobs[i]
		if !reflect.DeepEqual(fileFields(g), fileFields(w)) || g.Digest != w.Digest ||
			g.Location().String() != w.Location().String() || !g.Next(from).Equal(w.Next(from)) ||
			got.Job(g.Name) != g {
			t.Fatalf("job %d differs:\nstreaming %+v\nwhole document %+v", i, g, w)
		}
	}
}

// streams reports whether Parse takes the streaming path for data.
func streams(data []byte) bool {
	d := &decoder{file: "f.yaml", zones: map[string]*time.Location{}, budget: nodeBudgetBase + len(data)}
	_, ok := d.parseStream(data)
	return ok
}

func TestStreamMatchesWhole(t *testing.T) {
	t.Parallel()
	const job = "    schedule: '@hourly'\n    command: [x]\n"
	many := func(n int, item func(i int) string) string {
		var b strings.Builder
		b.WriteString("defaults:\n  timeout: 1m\njobs:\n")
		for i := range n {
			b.WriteString(item(i))
		}
		b.WriteString("history:\n  keep: 1d\n")
		return b.String()
	}
	cases := []struct {
		name   string
		src    string
		stream bool // whether the streaming path is expected to be taken
	}{
		{"plain", "jobs:\n  - name: a\n" + job + "  - name: b\n" + job, true},
		{"column 0 items", "jobs:\n- name: a\n  schedule: '@hourly'\n  command: [x]\n- name: b\n  schedule: '@daily'\n  shell: y\n", true},
		{"dash alone", "jobs:\n  -\n    name: a\n" + job + "  -\n    name: b\n" + job, true},
		{"comments", "# head\njobs: # the jobs\n# col 0\n  # indented\n  - name: a\n" + job + "# between\n    # deeper\n  - name: b\n" + job + "# after\n\nhistory: {keep: 1h}\n", true},
		{"crlf", strings.ReplaceAll("jobs:\n  - name: a\n"+job+"  - name: b\n"+job+"notify:\n  timeout: 3s\n", "\n", "\r\n"), true},
		{"tail after jobs", "jobs:\n  - name: a\n" + job + "defaults:\n  timeout: 1x\nhistory:\n  keep: -1s\n", true},
		{"field errors in batches", many(1300, func(i int) string {
			if i%400 == 7 {
				return fmt.Sprintf("  - name: j%d\n    schedule: '61 * * * *'\n    command: [x]\n    bogus: 1\n", i)
			}
			return fmt.Sprintf("  - name: j%d\n"+job, i%1100)
		}), true},
		{"too many errors", many(3000, func(i int) string {
			return fmt.Sprintf("  - {name: j%d, schedule: '@hourly', command: [x], bad: 1}\n", i)
		}), true},
		{"valid across batches", many(1100, func(i int) string { return fmt.Sprintf("  - {name: j%d, schedule: '@hourly', command: [x]}\n", i) }), true},
		{"keep chomping at end", "jobs:\n  - name: a\n    schedule: '@hourly'\n    shell: |+\n      echo a\n\n\n# c\n\nhistory: {keep: 1h}\n", true},
		{"folded and plain multi-line", "jobs:\n  - name: a\n    schedule: '@hourly'\n    shell: >\n      echo\n      a\n  - name: b\n    schedule: '@hourly'\n    shell: echo\n      b\n", true},
		{"anchor within a job", "jobs:\n  - name: a\n    schedule: '@hourly'\n    env: &e {A: 1}\n    http: {url: 'http://h/', headers: *e}\n", true},
		{"duplicate jobs key", "jobs:\n  - name: a\n" + job + "jobs:\n  - name: b\n" + job, true},
		{"alias across jobs of a batch", "jobs:\n  - name: a\n    schedule: '@hourly'\n    env: &e {A: 1}\n    shell: x\n  - name: b\n    schedule: '@hourly'\n    env: *e\n    shell: y\n", true},

		// Layouts the streaming path gives up on.
		{"alias across batches", many(batchItems+1, func(i int) string {
			switch i {
			case 0:
				return "  - {name: a, schedule: '@hourly', command: &c [x]}\n"
			case batchItems:
				return "  - {name: b, schedule: '@hourly', command: *c}\n"
			}
			return fmt.Sprintf("  - {name: j%d, schedule: '@hourly', command: [x]}\n", i)
		}), false},
		{"alias to defaults", "defaults:\n  timezone: &z UTC\njobs:\n  - name: a\n    schedule: '@hourly'\n    timezone: *z\n    shell: x\n", false},
		{"unknown anchor", "jobs:\n  - name: a\n    schedule: '@hourly'\n    command: *argv\n", false},
		{"quoted item line", "jobs:\n  - name: a\n    schedule: '@hourly'\n    shell: \"echo\n  - name: b\"\n", false},
		{"quoted over the end", "jobs:\n  - name: a\n    schedule: '@hourly'\n    shell: \"echo\nhistory: x\"\n", false},
		{"jobs in a quote", "defaults:\n  timezone: \"UTC\njobs:\n  - name: a\n" + job + "notify: \"\n", false},
		{"flow over lines", "jobs:\n  - name: a\n    schedule: '@hourly'\n    http: {method: GET,\n  url: 'http://h/'}\n", false},
		{"flow jobs", "jobs: [{name: a, schedule: '@hourly', command: [x]}]\n", false},
		{"tab after dash", "jobs:\n  -\tname: a\n" + job, false},
		{"tab at column 0", "jobs:\n  - name: a\n    schedule: '@hourly'\n    shell: echo\n\tfoo\nhistory: {keep: 1h}\n", false},
		{"lone cr", "jobs:\r  - name: a\r" + strings.ReplaceAll(job, "\n", "\r"), false},
		{"nel", "jobs:\n  - name: a\n    schedule: '@hourly'\n    shell: \"a\u0085b\"\n", false},
		{"tag directive", "%TAG !t! tag:example.com,2000:\n---\njobs:\n  - name: a\n    schedule: !t!s '@hourly'\n    shell: x\n", false},
		{"second document", "jobs:\n  - name: a\n" + job + "---\njobs:\n  - name: b\n" + job, false},
		{"syntax error in a batch", "jobs:\n  - name: a\n" + job + "  - name: [b\n" + job, false},
		{"syntax error in a later batch", many(3000, func(i int) string {
			if i == 1700 {
				return "  - {name: [j\n"
			}
			return fmt.Sprintf("  - {name: j%d, schedule: '@hourly', command: [x]}\n", i)
		}), false},
		{"less indented key", "jobs:\n  - name: a\n" + job + " x: 1\n", false},
		{"jobs: comment without space", "jobs:# x\n  - name: a\n" + job, false},
		{"no items", "jobs:\nhistory: {keep: 1h}\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sameAsWhole(t, []byte(c.src))
			if got := streams([]byte(c.src)); got != c.stream {
				t.Errorf("streaming path taken: %v, want %v", got, c.stream)
			}
		})
	}
}

// TestStreamMatchesWholeFiles compares the two paths on the shipped
// configs and the fuzz corpus.
func TestStreamMatchesWholeFiles(t *testing.T) {
	t.Parallel()
	for _, p := range []string{filepath.Join("testdata", "valid.yaml"), filepath.Join("..", "..", "examples", "tock.yaml")} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sameAsWhole(t, data)
		if !streams(data) {
			t.Errorf("%s: not streamed", p)
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(strings.TrimSpace(string(raw)), "\n", 2)
		data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		t.Run(e.Name(), func(t *testing.T) { sameAsWhole(t, []byte(data)) })
	}
}

// TestScaleConfigStreams checks that the benchmark's layout takes the
// streaming path.
func TestScaleConfigStreams(t *testing.T) {
	t.Parallel()
	data := scaleConfig(2000)
	if !streams(data) {
		t.Fatal("the scale config is not streamed")
	}
	sameAsWhole(t, data)
}
