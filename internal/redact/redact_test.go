package redact

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8080/page", "http://127.0.0.1:8080/page"},
		{"http://alice:s3cret@127.0.0.1:8080/page", "http://alice:xxxxx@127.0.0.1:8080/page"},
		{"https://tok3n@example.com/", "https://xxxxx@example.com/"},
		{"http://alice:p@ss@host/x@y", "http://alice:xxxxx@host/x@y"}, // net/url splits at the last @ of the authority
		{"http://alice:@host/", "http://alice:xxxxx@host/"},
		{"http://host/path?next=http://a:b@c/", "http://host/path?next=http://a:b@c/"}, // a query is no authority
		{"http://alice:s3cret@host:99999999/", "http://alice:xxxxx@host:99999999/"},    // does not parse: masked anyway
		{"http://alice:pw%40x@host/", "http://alice:xxxxx@host/"},
		{"", ""},
		{"not a url", "not a url"},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// What net/http prints about a URL with credentials, passed through the Replacer, holds none:
// the client's own redaction keeps a lone user name (a token), the Replacer masks it.
func TestReplacerMasksClientErrors(t *testing.T) {
	for _, raw := range []string{
		"http://tok%65n@127.0.0.1:1/page", // escaped: net/http writes it back as "token@"
		"http://alice:s3cret@127.0.0.1:1/page",
	} {
		c := &http.Client{Timeout: 2 * time.Second}
		_, err := c.Get(raw) // port 1: refused at once
		if err == nil {
			t.Fatalf("GET %s succeeded", raw)
		}
		var got string
		for e := err; e != nil; e = errors.Unwrap(e) {
			got = Replacer(raw).Replace(e.Error())
			for _, secret := range []string{"token", "tok%65n", "s3cret"} {
				if strings.Contains(got, secret) {
					t.Errorf("masked error %q still holds %q", got, secret)
				}
			}
		}
		if !strings.Contains(Replacer(raw).Replace(err.Error()), "127.0.0.1:1") {
			t.Errorf("masked error lost the host: %q", got)
		}
	}
	if r := Replacer("http://127.0.0.1/"); r.Replace("a@b http://x@y") != "a@b http://x@y" {
		t.Errorf("a URL without userinfo changed a text")
	}
}
