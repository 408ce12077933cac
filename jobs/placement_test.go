package jobs

import (
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"":                       "",
		"zone=a":                 "zone=a",
		" zone=a , gpu=true ":    "gpu=true,zone=a",
		"topology.k8s.io/zone=b": "topology.k8s.io/zone=b",
		"a=1,b=2,c=x_y.z-w":      "a=1,b=2,c=x_y.z-w",
	}
	for in, want := range good {
		l, err := ParseLabels(in)
		if err != nil {
			t.Errorf("ParseLabels(%q): %v", in, err)
			continue
		}
		if got := l.String(); got != want {
			t.Errorf("ParseLabels(%q).String() = %q, want %q", in, got, want)
		}
		back, err := ParseLabels(l.String())
		if err != nil || back.String() != want {
			t.Errorf("round trip of %q: %v %v", in, back, err)
		}
	}
	bad := map[string]string{
		"zone":                             "want key=value",
		"zone=":                            "empty value",
		"=a":                               "empty label key",
		"zone=a,zone=b":                    "given twice",
		"zone=a b":                         "invalid character",
		"zo ne=a":                          "invalid character",
		"-zone=a":                          "must start with a letter or digit",
		"zone=a=b":                         "invalid character '='",
		"zone=a,":                          "want key=value",
		strings.Repeat("k", 64) + "=v":     "longer than 63",
		"k=" + strings.Repeat("v", 64):     "longer than 63",
		"zone=a/b":                         "invalid character '/'",
		"zone=\xff":                        "invalid character",
		strings.Repeat("a=1,", 32) + "b=2": "given twice",
	}
	for in, want := range bad {
		if _, err := ParseLabels(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLabels(%q) error %v, want one containing %q", in, err, want)
		}
	}
	var many []string
	for i := range MaxLabels + 1 {
		many = append(many, "k"+string(rune('a'+i%26))+string(rune('a'+i/26))+"=v")
	}
	if _, err := ParseLabels(strings.Join(many, ",")); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("%d labels: error %v", len(many), err)
	}
}

func TestLabelsMatch(t *testing.T) {
	t.Parallel()
	node := Labels{"zone": "a", "gpu": "true"}
	for want, ok := range map[string]bool{
		"":                true,
		"zone=a":          true,
		"gpu=true,zone=a": true,
		"zone=b":          false,
		"rack=1":          false,
		"zone=a,rack=1":   false,
		"garbage":         false,
	} {
		if got := node.MatchesText(want); got != ok {
			t.Errorf("MatchesText(%q) = %v, want %v", want, got, ok)
		}
	}
}

func TestRunRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		run  Run
		want string
	}{
		{Run{}, ""},
		{Run{RunOnLabels: "zone=a"}, "labels:zone=a"},
		{Run{RunOnLabels: "zone=a", PinnedNode: "n1"}, "node:n1"},
		{Run{PinnedNode: "n1"}, "node:n1"},
	} {
		if got := tc.run.Route(); got != tc.want {
			t.Errorf("%+v: Route %q, want %q", tc.run, got, tc.want)
		}
	}
}
