package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The admin listener answers GET and HEAD only, and only to a Host on loopback: a web page that
// rebinds its own name to 127.0.0.1 sends its name as Host and is refused, and nothing can be
// PUT or DELETEd. allow_non_loopback (containers, reached through published ports) widens the
// Host check to IP addresses and single-label names, never dotted DNS names, and keeps the
// method check.
func TestAdminGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "admin\n") })
	tests := []struct {
		method, host string
		anyHost      bool
		want         int
	}{
		{"GET", "127.0.0.1:8081", false, 200},
		{"HEAD", "127.0.0.1:8081", false, 200},
		{"GET", "localhost:8081", false, 200},
		{"GET", "LocalHost:8081", false, 200},
		{"GET", "localhost", false, 200},
		{"GET", "127.3.4.5:1", false, 200},
		{"GET", "[::1]:8081", false, 200},
		{"GET", "[::1]", false, 200},
		{"GET", "evil.example:8081", false, 421},
		{"GET", "evil.example", false, 421},
		{"GET", "localhost.evil.example:8081", false, 421},
		{"GET", "127.0.0.1.nip.io:8081", false, 421},
		{"GET", "10.0.0.1:8081", false, 421},
		{"GET", "[2001:db8::1]:8081", false, 421},
		{"GET", "", false, 421},
		// allow_non_loopback: IPs and single-label (compose service) names, never a dotted
		// DNS name, which is what a rebinding page sends.
		{"GET", "10.0.0.1:8081", true, 200},
		{"GET", "[2001:db8::1]:8081", true, 200},
		{"GET", "app-self:8081", true, 200},
		{"GET", "127.0.0.1:8081", true, 200},
		{"GET", "evil.example:8081", true, 421},
		{"GET", "127.0.0.1.nip.io", true, 421},
		{"GET", "", true, 421},
		{"PUT", "127.0.0.1:8081", false, 405},
		{"DELETE", "127.0.0.1:8081", false, 405},
		{"POST", "127.0.0.1:8081", false, 405},
		{"OPTIONS", "127.0.0.1:8081", false, 405},
		{"DELETE", "10.0.0.1:8081", true, 405},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/debug/pprof/cmdline", nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			guardAdmin(ok, tt.anyHost).ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("%s with Host %q: %d %q, want %d", tt.method, tt.host, rec.Code, rec.Body.String(), tt.want)
			}
			switch tt.want {
			case 405:
				if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow %q, want \"GET, HEAD\"", got)
				}
			case 421:
				if !tt.anyHost && !strings.Contains(rec.Body.String(), "allow_non_loopback") {
					t.Errorf("refusal %q does not say how to lift it", rec.Body.String())
				}
			}
		})
	}
}

// On a running app every admin path, pprof's included, is behind the guard; the app's own
// listener is not (see guardAdmin), and the self-call still works.
func TestAdminGuardOnListener(t *testing.T) {
	a := startApp(t, testConfig(Self))
	c := &http.Client{Timeout: 5 * time.Second}
	do := func(method, url, host string) int {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/stats", "/metrics", "/healthz", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/symbol", "/debug/pprof/goroutine?debug=1"} {
		url := a.AdminURL() + path
		if got := do("GET", url, ""); got != 200 {
			t.Errorf("GET %s: %d", path, got)
		}
		for _, m := range []string{"PUT", "DELETE", "POST"} {
			if got := do(m, url, ""); got != 405 {
				t.Errorf("%s %s: %d, want 405", m, path, got)
			}
		}
		if got := do("GET", url, "rebound.example:80"); got != 421 {
			t.Errorf("GET %s with Host rebound.example: %d, want 421", path, got)
		}
	}
	if got := do("GET", a.URL()+"/page", ""); got != 200 {
		t.Errorf("GET /page: %d", got)
	}
}
