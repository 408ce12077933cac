package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tock-sched/tock/storage"
)

// Access is what a credential allows.
type Access int

// Access levels, each including the ones before it.
const (
	AccessNone Access = iota
	AccessRead
	AccessWrite
)

// Default token names: a bare --api-token secret is "token", a
// --api-read-token "read-token"; without tokens the actor is "anonymous".
const (
	DefaultTokenName     = "token"
	DefaultReadTokenName = "read-token"
	AnonymousActor       = "anonymous"
)

// NamedToken is one API token: its name is the actor of the changes made
// with it (audit table), Access what it allows.
type NamedToken struct {
	Name   string
	Secret string
	Access Access
}

// Auth holds the API tokens. With a write token set, every mutating call
// needs a write token as a bearer token; with a read token set too, reads
// need either. Without tokens the API is open, which is only sensible on a
// loopback address.
type Auth struct {
	// Token allows everything (--api-token); TokenName names it (default
	// "token").
	Token     string
	TokenName string
	// ReadToken allows reads only (--api-read-token); it needs a write
	// token. It is named "read-token".
	ReadToken string
	// Tokens are more named tokens (--api-token-file).
	Tokens []NamedToken
}

// All returns every token with its name and access.
func (a Auth) All() []NamedToken {
	var out []NamedToken
	if a.Token != "" {
		name := a.TokenName
		if name == "" {
			name = DefaultTokenName
		}
		out = append(out, NamedToken{Name: name, Secret: a.Token, Access: AccessWrite})
	}
	if a.ReadToken != "" {
		out = append(out, NamedToken{Name: DefaultReadTokenName, Secret: a.ReadToken, Access: AccessRead})
	}
	return append(out, a.Tokens...)
}

// Check validates the combination.
func (a Auth) Check() error {
	if a.ReadToken != "" && a.Token == "" && !a.has(AccessWrite) {
		return errors.New("--api-read-token needs --api-token: otherwise reads would be guarded and changes open")
	}
	if a.ReadToken != "" && a.ReadToken == a.Token {
		return errors.New("--api-read-token must differ from --api-token")
	}
	if a.has(AccessRead) && !a.has(AccessWrite) {
		return errors.New("read tokens need an operate token (--api-token or a role operate in --api-token-file): otherwise reads would be guarded and changes open")
	}
	names, secrets := map[string]bool{}, map[string]string{}
	for _, t := range a.All() {
		switch {
		case t.Name == "" || strings.ContainsAny(t.Name, ": \t\r\n"):
			return fmt.Errorf("API token name %q: want a non-empty name without ':' or spaces", t.Name)
		case t.Secret == "":
			return fmt.Errorf("API token %q has an empty secret", t.Name)
		case t.Access != AccessRead && t.Access != AccessWrite:
			return fmt.Errorf("API token %q has no role", t.Name)
		case names[t.Name]:
			return fmt.Errorf("API token name %q is used twice", t.Name)
		case secrets[t.Secret] != "":
			return fmt.Errorf("API tokens %q and %q have the same secret", secrets[t.Secret], t.Name)
		}
		names[t.Name], secrets[t.Secret] = true, t.Name
	}
	return nil
}

func (a Auth) has(level Access) bool {
	for _, t := range a.All() {
		if t.Access == level {
			return true
		}
	}
	return false
}

// Enabled reports whether any token is configured.
func (a Auth) Enabled() bool { return a.has(AccessWrite) }

// Need returns the access a read (write false) or change (write true) needs:
// AccessNone when that kind of call is open.
func (a Auth) Need(write bool) Access {
	switch {
	case write && a.has(AccessWrite):
		return AccessWrite
	case !write && a.has(AccessRead):
		return AccessRead
	}
	return AccessNone
}

// Grant returns what token allows.
func (a Auth) Grant(token string) Access {
	_, acc := a.Identify(token)
	return acc
}

// Identify returns the name of the token whose secret is token and what
// it allows, or ("", AccessNone). Secrets are compared in constant time
// over their SHA-256 sums, so neither content nor length leaks, and every
// token is compared.
func (a Auth) Identify(token string) (string, Access) {
	if token == "" {
		return "", AccessNone
	}
	got := sha256.Sum256([]byte(token))
	name, acc := "", AccessNone
	for _, t := range a.All() {
		want := sha256.Sum256([]byte(t.Secret))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && t.Access > acc {
			name, acc = t.Name, t.Access
		}
	}
	return name, acc
}

// Lookup returns the token named name.
func (a Auth) Lookup(name string) (NamedToken, bool) {
	for _, t := range a.All() {
		if t.Name == name {
			return t, true
		}
	}
	return NamedToken{}, false
}

// ParseToken reads an --api-token value: "name:secret", or a bare secret
// named DefaultTokenName.
func ParseToken(v string) (name, secret string) {
	if n, s, ok := strings.Cut(v, ":"); ok && n != "" && s != "" {
		return n, s
	}
	return DefaultTokenName, v
}

// ParseTokenFile reads an --api-token-file: one token a line as
// name:secret:role, role read or operate; blank lines and lines starting
// with # are skipped. Errors name path:line.
func ParseTokenFile(path string, data []byte) ([]NamedToken, error) {
	var out []NamedToken
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok1 := strings.Cut(line, ":")
		i2 := strings.LastIndex(rest, ":")
		if !ok1 || i2 < 0 || name == "" || i2 == 0 {
			return nil, fmt.Errorf("%s:%d: want name:secret:role", path, i+1)
		}
		secret, role := rest[:i2], rest[i2+1:]
		var acc Access
		switch role {
		case "read":
			acc = AccessRead
		case "operate":
			acc = AccessWrite
		default:
			return nil, fmt.Errorf("%s:%d: role %q: want read or operate", path, i+1, role)
		}
		out = append(out, NamedToken{Name: name, Secret: secret, Access: acc})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no tokens", path)
	}
	return out, nil
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
// token does not allow a call of that kind. Otherwise it returns the actor
// of the call: the token's name, or "anonymous" without one.
func (a Auth) authorize(w http.ResponseWriter, r *http.Request, write bool) (string, bool) {
	tok := BearerToken(r)
	name, got := a.Identify(tok)
	if name == "" {
		name = AnonymousActor
	}
	need := a.Need(write)
	if need == AccessNone {
		return name, true
	}
	switch {
	case got >= need:
		return name, true
	case tok == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="tock"`)
		writeError(w, http.StatusUnauthorized, "this call needs a bearer token: Authorization: Bearer <token>")
	case got == AccessNone:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tock", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid bearer token")
	default:
		writeError(w, http.StatusForbidden, "the read-only token cannot change anything; use a token with role operate")
	}
	return "", false
}

// WithActor returns ctx naming the actor of a change made through source
// (storage.SourceAPI, storage.SourceDashboard): the store records it in
// the audit table.
func WithActor(r *http.Request, name, source string) *http.Request {
	return r.WithContext(storage.WithActor(r.Context(), storage.Actor{Name: name, Source: source}))
}
