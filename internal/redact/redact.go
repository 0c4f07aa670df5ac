// Package redact masks the credentials a URL may carry (http://user:password@host/...) in what
// sim writes or prints: run records, progress and error messages. The URL itself, with its
// credentials, is still what goes on the wire.
package redact

import (
	"net/url"
	"strings"
)

// Mask stands for a masked secret; url.URL.Redacted uses the same.
const Mask = "xxxxx"

// URL returns raw with its userinfo masked: "user:password@" becomes "user:xxxxx@", as
// url.URL.Redacted does, and a user name alone ("token@") becomes "xxxxx@", because a lone
// user name is how tokens are often passed (https://TOKEN@host/). A string without userinfo is
// returned as it is. It works on the text, so a URL that does not parse is masked too.
func URL(raw string) string {
	start, end, ok := userinfo(raw)
	if !ok {
		return raw
	}
	return raw[:start] + masked(raw[start:end]) + raw[end:]
}

// Replacer returns a replacer that masks raw's userinfo wherever it appears in a text (an error
// message, a result record): as written in raw and as net/url writes it back, which is how it
// appears in net/http's errors. It replaces nothing when raw has no userinfo. It is safe for
// concurrent use.
func Replacer(raw string) *strings.Replacer {
	start, end, ok := userinfo(raw)
	if !ok {
		return strings.NewReplacer()
	}
	info := raw[start:end]
	pairs := []string{info + "@", masked(info) + "@"}
	if u, err := url.Parse(raw); err == nil && u.User != nil && u.User.String() != info {
		pairs = append(pairs, u.User.String()+"@", masked(u.User.String())+"@")
	}
	return strings.NewReplacer(pairs...)
}

// userinfo finds the userinfo of raw, between "//" and the last "@" of the authority (as
// net/url splits it), and reports whether there is one.
func userinfo(raw string) (start, end int, ok bool) {
	i := strings.Index(raw, "//")
	if i < 0 {
		return 0, 0, false
	}
	start = i + 2
	authority := raw[start:]
	if j := strings.IndexAny(authority, "/?#"); j >= 0 {
		authority = authority[:j]
	}
	at := strings.LastIndexByte(authority, '@')
	if at <= 0 {
		return 0, 0, false
	}
	return start, start + at, true
}

// masked is the userinfo info with its secret replaced by Mask.
func masked(info string) string {
	if user, _, ok := strings.Cut(info, ":"); ok {
		return user + ":" + Mask
	}
	return Mask
}
