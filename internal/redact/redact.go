package redact

import (
	"net/url"
	"strings"
)

// mask stands for a hidden password, as url.URL.Redacted writes it.
const mask = "xxxxx"

// URL returns raw with the password of its user info, if any, replaced by
// xxxxx. A URL without a password is returned unchanged. One that does not
// parse (an operator's typo, a password with an unescaped '/') is masked
// between the first ':' after "://" and the last '@', so the message still
// shows the rest of what was typed.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil {
		if _, has := u.User.Password(); !has {
			return raw
		}
		return u.Redacted()
	}
	scheme := strings.Index(raw, "://")
	at := strings.LastIndex(raw, "@")
	if scheme < 0 || at < scheme {
		return raw
	}
	userinfo := raw[scheme+3 : at]
	i := strings.Index(userinfo, ":")
	if i < 0 {
		return raw
	}
	return raw[:scheme+3] + userinfo[:i] + ":" + mask + raw[at:]
}
