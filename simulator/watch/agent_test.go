//go:build linux

package watch

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

func startAgent(t *testing.T, cfg Config) *Agent {
	t.Helper()
	a, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("close agent: %v", err)
		}
	})
	return a
}

// Bad input names the flag and the value; a token's value is never shown.
func TestConfigValidate(t *testing.T) {
	ok := Config{Port: 8080, Addr: DefaultAddr}
	with := func(f func(*Config)) Config { c := ok; f(&c); return c }
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"port 0", with(func(c *Config) { c.Port = 0 }), "--port"},
		{"port too high", with(func(c *Config) { c.Port = 65536 }), "--port"},
		{"negative pid", with(func(c *Config) { c.PID = -3 }), "--pid"},
		{"no such pid", with(func(c *Config) { c.PID = 1 << 30 }), "--pid"},
		{"bad addr", with(func(c *Config) { c.Addr = "127.0.0.1" }), "--addr"},
		{"named port", with(func(c *Config) { c.Addr = "127.0.0.1:http" }), "--addr"},
		{"port beyond range", with(func(c *Config) { c.Addr = "127.0.0.1:70000" }), "--addr"},
		{"all interfaces without flag", with(func(c *Config) { c.Addr = "0.0.0.0:8082"; c.Token = testToken }), "--addr"},
		{"no token beyond loopback", with(func(c *Config) { c.Addr = "0.0.0.0:8082"; c.AllowNonLoopback = true }), "--token"},
		{"short token", with(func(c *Config) { c.Token = "short-secret" }), "--token"},
		{"upstream is the port", with(func(c *Config) { c.Upstream = 8080 }), "--upstream"},
		{"upstream beyond range", with(func(c *Config) { c.Upstream = 70000 }), "--upstream"},
		{"token with a space", with(func(c *Config) { c.Token = "0123456789 abcdef-x" }), "--token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var ie *invalid.Error
			if !invalid.Is(err) {
				t.Fatalf("Validate: %v, want an invalid.Field error", err)
			}
			if ie, _ = err.(*invalid.Error); ie.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", ie.Field, tt.field, err)
			}
			if tt.cfg.Token != "" && strings.Contains(err.Error(), tt.cfg.Token) {
				t.Errorf("message shows the token: %v", err)
			}
		})
	}
	for _, good := range []Config{
		ok,
		with(func(c *Config) { c.PID = os.Getpid() }),
		with(func(c *Config) { c.Addr = "[::1]:0"; c.Token = testToken }),
		with(func(c *Config) { c.Addr = "0.0.0.0:0"; c.AllowNonLoopback = true; c.Token = testToken }),
		with(func(c *Config) { c.Port = 65535; c.AllowNonLoopback = true }),
	} {
		if err := good.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", good, err)
		}
	}
}

// A started agent answers on its URL and, once closed, leaves no listener behind.
func TestAgentStartClose(t *testing.T) {
	_, port := listen(t)
	a, err := Start(Config{Port: int(port), Addr: DefaultAddr})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", a.URL())
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(a.URL() + CensusPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"port":`+strconv.Itoa(int(port))) {
		t.Fatalf("census: %d %s", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-a.Err(); err != nil {
		t.Errorf("listener error after Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(a.URL(), "http://"), time.Second); err == nil {
		c.Close()
		t.Error("the agent's port still accepts connections after Close")
	}
	// The same address can be listened on again at once.
	startAgent(t, Config{Port: int(port), Addr: strings.TrimPrefix(a.URL(), "http://")})
}
