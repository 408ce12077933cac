package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// Access is what a credential allows.
type Access int

// Access levels, each including the ones before it.
const (
	AccessNone Access = iota
	AccessRead
	AccessWrite
)

// Auth holds the API tokens. With Token set, every mutating call needs it as
// a bearer token; with ReadToken set too, reads need either token. Without
// tokens the API is open, which is only sensible on a loopback address.
type Auth struct {
	// Token allows everything (--api-token).
	Token string
	// ReadToken allows reads only (--api-read-token); it needs Token.
	ReadToken string
}

// Check validates the combination.
func (a Auth) Check() error {
	if a.ReadToken != "" && a.Token == "" {
		return errors.New("--api-read-token needs --api-token: otherwise reads would be guarded and changes open")
	}
	if a.ReadToken != "" && a.ReadToken == a.Token {
		return errors.New("--api-read-token must differ from --api-token")
	}
	return nil
}

// Enabled reports whether any token is configured.
func (a Auth) Enabled() bool { return a.Token != "" }

// Need returns the access a read (write false) or change (write true) needs:
// AccessNone when that kind of call is open.
func (a Auth) Need(write bool) Access {
	switch {
	case write && a.Token != "":
		return AccessWrite
	case !write && a.ReadToken != "":
		return AccessRead
	}
	return AccessNone
}

// Grant returns what token allows. Tokens are compared in constant time
// over their SHA-256 sums, so neither content nor length leaks.
func (a Auth) Grant(token string) Access {
	if token == "" {
		return AccessNone
	}
	got := sha256.Sum256([]byte(token))
	if a.Token != "" {
		want := sha256.Sum256([]byte(a.Token))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			return AccessWrite
		}
	}
	if a.ReadToken != "" {
		want := sha256.Sum256([]byte(a.ReadToken))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			return AccessRead
		}
	}
	return AccessNone
}

// BearerToken returns the token of an "Authorization: Bearer …" header, or
// "" when there is none.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// authorize answers 401 or 403 and returns false when the request's bearer
// token does not allow a call of that kind.
func (a Auth) authorize(w http.ResponseWriter, r *http.Request, write bool) bool {
	need := a.Need(write)
	if need == AccessNone {
		return true
	}
	tok := BearerToken(r)
	got := a.Grant(tok)
	switch {
	case got >= need:
		return true
	case tok == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="tock"`)
		writeError(w, http.StatusUnauthorized, "this call needs a bearer token: Authorization: Bearer <token>")
	case got == AccessNone:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tock", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid bearer token")
	default:
		writeError(w, http.StatusForbidden, "the read-only token cannot change anything; use the API token")
	}
	return false
}
