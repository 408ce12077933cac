package redact

import "testing"

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mysql://tock:s3cret@db:3306/tock?tls=true", "mysql://tock:xxxxx@db:3306/tock?tls=true"},
		{"redis://:s3cret@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"mysql://root@db/tock", "mysql://root@db/tock"},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"sqlite:/var/lib/tock/tock.db", "sqlite:/var/lib/tock/tock.db"},
		{"sqlite:tock.db?_pragma=busy_timeout(5000)", "sqlite:tock.db?_pragma=busy_timeout(5000)"},
		// Unparsable: masked by position.
		{"mysql://tock:pa/ss@db:3306/tock", "mysql://tock:xxxxx@db:3306/tock"},
		{"mysql://tock:p@ss:w/rd@db/tock", "mysql://tock:xxxxx@db/tock"},
		{"mysql://db:3306:x/tock", "mysql://db:3306:x/tock"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
