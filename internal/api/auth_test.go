package api

import (
	"net/http"
	"testing"
)

func TestAuthGrant(t *testing.T) {
	t.Parallel()
	a := Auth{Token: "write-secret", ReadToken: "read-secret"}
	for _, tc := range []struct {
		tok  string
		want Access
	}{
		{"write-secret", AccessWrite},
		{"read-secret", AccessRead},
		{"", AccessNone},
		{"write-secre", AccessNone},
		{"write-secret ", AccessNone},
		{"WRITE-SECRET", AccessNone},
	} {
		if got := a.Grant(tc.tok); got != tc.want {
			t.Errorf("Grant(%q) = %v, want %v", tc.tok, got, tc.want)
		}
	}
	if got := (Auth{}).Grant("anything"); got != AccessNone {
		t.Errorf("no tokens: Grant = %v", got)
	}
}

func TestAuthCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a  Auth
		ok bool
	}{
		{Auth{}, true},
		{Auth{Token: "w"}, true},
		{Auth{Token: "w", ReadToken: "r"}, true},
		{Auth{ReadToken: "r"}, false},
		{Auth{Token: "same", ReadToken: "same"}, false},
	} {
		if err := tc.a.Check(); (err == nil) != tc.ok {
			t.Errorf("%+v.Check() = %v, want ok=%v", tc.a, err, tc.ok)
		}
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ header, want string }{
		{"Bearer abc", "abc"},
		{"bearer abc", "abc"},
		{"Bearer  abc ", "abc"},
		{"Basic abc", ""},
		{"Bearerabc", ""},
		{"", ""},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := BearerToken(r); got != tc.want {
			t.Errorf("BearerToken(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

// TestAuthOnRoutes checks every route's answer with each credential.
func TestAuthOnRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	type creds struct{ none, wrong, read, write int }
	for _, tc := range []struct {
		name string
		auth Auth
		// expected status class for a read and a write with each credential
		read, write creds
	}{
		{"open", Auth{}, creds{200, 200, 200, 200}, creds{202, 202, 202, 202}},
		{"token", Auth{Token: "w"}, creds{200, 200, 200, 200}, creds{401, 401, 401, 202}},
		{"token+read", Auth{Token: "w", ReadToken: "r"}, creds{401, 401, 200, 200}, creds{401, 401, 403, 202}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := f.server(tc.auth)
			toks := []string{"", "wrong", "r", "w"}
			reads := []int{tc.read.none, tc.read.wrong, tc.read.read, tc.read.write}
			writes := []int{tc.write.none, tc.write.wrong, tc.write.read, tc.write.write}
			for i, tok := range toks {
				var e ErrorBody
				resp := do(t, "GET", srv.URL+"/api/v1/runs?limit=1", tok, nil, &e)
				if resp.StatusCode != reads[i] {
					t.Errorf("GET /runs with token %q: %d, want %d (%+v)", tok, resp.StatusCode, reads[i], e)
				}
				if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
				resp = do(t, "POST", srv.URL+"/api/v1/jobs/backup/trigger", tok, nil, &e)
				if resp.StatusCode != writes[i] {
					t.Errorf("POST trigger with token %q: %d, want %d (%+v)", tok, resp.StatusCode, writes[i], e)
				}
			}
			// Health and the document never need a token.
			for _, p := range []string{"/healthz", "/readyz", "/api/v1/openapi.json"} {
				if resp := do(t, "GET", srv.URL+p, "", nil, nil); resp.StatusCode != 200 {
					t.Errorf("GET %s without a token: %d", p, resp.StatusCode)
				}
			}
		})
	}
}
