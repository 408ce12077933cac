package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tock-sched/tock/internal/api"
)

// Cookie names.
const (
	sessionCookie = "tock_session"
	csrfCookie    = "tock_csrf"
)

// SessionTTL is how long a dashboard login lasts.
const SessionTTL = 12 * time.Hour

// sessionKey derives the key that signs sessions of one access level from
// that level's token: every replica with the same tokens accepts the same
// sessions, a changed token ends them, and the cookie reveals nothing of
// the token.
func sessionKey(level api.Access, token string) []byte {
	h := sha256.New()
	h.Write([]byte("tock-dashboard-session-v2\x00"))
	h.Write([]byte(strconv.Itoa(int(level))))
	h.Write([]byte{0})
	h.Write([]byte(token))
	return h.Sum(nil)
}

func sessionMAC(key []byte, level api.Access, exp int64, name string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strconv.Itoa(int(level)) + "." + strconv.FormatInt(exp, 10) + "." + name))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSession returns the cookie value of a session of the token tok until
// exp: level.exp.name.mac, the name (base64url) being the actor of the
// session's changes, the MAC keyed by that token's secret.
func (d *Dashboard) newSession(tok api.NamedToken, exp time.Time) string {
	e := exp.Unix()
	return strconv.Itoa(int(tok.Access)) + "." + strconv.FormatInt(e, 10) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(tok.Name)) + "." + sessionMAC(sessionKey(tok.Access, tok.Secret), tok.Access, e, tok.Name)
}

// sessionAccess returns the access of the request's session cookie.
func (d *Dashboard) sessionAccess(r *http.Request) api.Access {
	_, acc := d.session(r)
	return acc
}

// session returns the token name and access of the request's session
// cookie, or ("", AccessNone).
func (d *Dashboard) session(r *http.Request) (string, api.Access) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", api.AccessNone
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 {
		return "", api.AccessNone
	}
	lvl, err1 := strconv.Atoi(parts[0])
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	rawName, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || d.now().Unix() >= exp {
		return "", api.AccessNone
	}
	level, name := api.Access(lvl), string(rawName)
	tok, ok := d.auth.Lookup(name)
	if !ok || tok.Access != level {
		return "", api.AccessNone
	}
	want := sessionMAC(sessionKey(level, tok.Secret), level, exp, name)
	if subtle.ConstantTimeCompare([]byte(want), []byte(parts[3])) != 1 {
		return "", api.AccessNone
	}
	return name, level
}

// actor is the name changes made by the request are recorded under: its
// session's token name, or "anonymous" when the dashboard is open.
func (d *Dashboard) actor(r *http.Request) string {
	if name, acc := d.session(r); acc > api.AccessNone {
		return name
	}
	return api.AnonymousActor
}

// access is what the request may do: everything when no token is
// configured, reads when reads are open, else what its session allows.
func (d *Dashboard) access(r *http.Request) api.Access {
	got := d.sessionAccess(r)
	if d.auth.Need(true) == api.AccessNone {
		return api.AccessWrite
	}
	if d.auth.Need(false) == api.AccessNone && got < api.AccessRead {
		return api.AccessRead
	}
	return got
}

// csrfID returns the request's CSRF cookie, setting a new one when absent.
func (d *Dashboard) csrfID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
		if _, err := hex.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	id := hex.EncodeToString(randomBytes(32))
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: id, Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return id
}

// csrfToken is the hidden form field for a CSRF cookie: signed with the
// process's random key, so a page of another origin can neither read nor
// forge it.
func (d *Dashboard) csrfToken(id string) string {
	m := hmac.New(sha256.New, d.csrfKey)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether a form POST carries the token of its cookie.
func (d *Dashboard) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	got := r.PostForm.Get("csrf")
	want := d.csrfToken(c.Value)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}
