package main

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// A real sim serve's admin listener answers GET and HEAD only, to loopback Host values only;
// --allow-non-loopback widens the Host check to IP addresses and single-label names (compose
// service names) but never a dotted DNS name, the one thing DNS rebinding sends; the method
// check stays. The app's self-call still works behind it.
func TestAdminGuardServe(t *testing.T) {
	c := &http.Client{Timeout: 5 * time.Second}
	do := func(method, url, host string) (int, string) {
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
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Allow")
	}
	for _, tt := range []struct {
		name    string
		args    []string
		anyHost bool
	}{
		{"loopback only", nil, false},
		{"allow-non-loopback", []string{"--allow-non-loopback"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startServe(t, append([]string{"--topology", "self", "--max-threads", "4", "--work-time", "10ms"}, tt.args...)...)
			admin := p.URL("admin")
			for _, path := range []string{"/debug/pprof/cmdline", "/debug/pprof/heap", "/stats", "/metrics"} {
				if code, _ := do("GET", admin+path, ""); code != 200 {
					t.Errorf("GET %s: %d", path, code)
				}
				if code, _ := do("GET", admin+path, "localhost:"+port(admin)); code != 200 {
					t.Errorf("GET %s with Host localhost: %d", path, code)
				}
				for _, m := range []string{"PUT", "DELETE", "POST", "PATCH"} {
					if code, allow := do(m, admin+path, ""); code != 405 || allow != "GET, HEAD" {
						t.Errorf("%s %s: %d, Allow %q; want 405, GET, HEAD", m, path, code, allow)
					}
				}
				if code, _ := do("GET", admin+path, "rebind.attacker.example:"+port(admin)); code != 421 {
					t.Errorf("GET %s with Host rebind.attacker.example: %d, want 421", path, code)
				}
				want := 421
				if tt.anyHost {
					want = 200
				}
				if code, _ := do("GET", admin+path, "app-self:"+port(admin)); code != want {
					t.Errorf("GET %s with Host app-self (a compose service name): %d, want %d", path, code, want)
				}
			}
			if code, _ := do("GET", p.URL("app")+"/page", ""); code != 200 {
				t.Errorf("GET /page (with its self-call): %d", code)
			}
		})
	}
}
