package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simdev/sim/simulator/child"
	"github.com/simdev/sim/simulator/sockets"
	"github.com/simdev/sim/simulator/watch"
)

// startWatch starts `sim watch` and stops it when the test ends.
func startWatch(t *testing.T, env []string, args ...string) *child.Process {
	t.Helper()
	p, err := child.Start(context.Background(), child.Spec{
		Name:  "sim watch",
		Path:  simBin,
		Args:  append([]string{"watch"}, args...),
		Env:   env,
		Ready: []string{"watch"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(3 * time.Second) })
	return p
}

// getCensus reads the agent's JSON census.
func getCensus(t *testing.T, c *http.Client, url, token string) watch.Census {
	t.Helper()
	req, err := http.NewRequest("GET", url+watch.CensusPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("census: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("census: %d %s", resp.StatusCode, body)
	}
	var census watch.Census
	if err := json.Unmarshal(body, &census); err != nil {
		t.Fatalf("census %s: %v", body, err)
	}
	return census
}

// sim watch beside a hung sim serve: it prints its line, finds sim serve as the owner of the
// port, counts the CLOSE_WAIT sockets the local sampler counts, and stops on SIGTERM leaving
// no listener.
func TestWatchServe(t *testing.T) {
	const workers, clients = 4, 12
	srv := startServe(t, "--topology", "self", "--max-threads", strconv.Itoa(workers), "--work-time", "10ms")
	appPort := port(srv.URL("app"))
	w := startWatch(t, []string{"SIM_WATCH_TOKEN="}, "--port", appPort)
	url := w.URL("watch")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("watch line %q, want http://127.0.0.1:PORT", url)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	// More pages than workers hang the self topology; each client gives up after 300 ms and
	// leaves its server-side socket in CLOSE_WAIT.
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			c := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
			if resp, err := c.Get(srv.URL("app") + "/page"); err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()

	sampler := sockets.New()
	defer sampler.Close()
	p, _ := strconv.Atoi(appPort)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := getCensus(t, hc, url, "")
		local, err := sampler.Sample(uint16(p))
		if err != nil {
			t.Fatal(err)
		}
		cw := c.Server["close_wait"]
		if cw >= clients-workers && cw == local.Server[sockets.CloseWait] {
			t.Logf("agent and local sampler both count %d CLOSE_WAIT; process %+v", cw, c.Process)
			if c.Process == nil || c.Process.PID != srv.PID() || c.Process.FoundBy != watch.FoundByListener {
				t.Errorf("process %+v (%s), want sim serve's pid %d found from the listener", c.Process, c.ProcessError, srv.PID())
			} else if c.Process.OpenFDs < cw {
				t.Errorf("sim serve holds %d fds, fewer than its %d CLOSE_WAIT sockets", c.Process.OpenFDs, cw)
			}
			if !c.Listen.Listening || c.Listen.QueueLimit <= 0 && c.Listen.QueueLimit != sockets.QueueMaxUnknown {
				t.Errorf("listen %+v", c.Listen)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent counts %d CLOSE_WAIT, local sampler %d; want equal and >= %d", cw, local.Server[sockets.CloseWait], clients-workers)
		}
		time.Sleep(50 * time.Millisecond)
	}

	resp, err := hc.Get(url + watch.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `sim_tcp_sockets{port="` + appPort + `",state="close_wait"}`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s:\n%s", want, body)
	}

	tr.CloseIdleConnections()
	if err := w.Stop(5 * time.Second); err != nil {
		t.Fatalf("stop: %v (%s)", err, w.Output())
	}
	if err := w.Err(); err != nil {
		t.Fatalf("exit after SIGTERM: %v (%s)", err, w.Output())
	}
	if listening(port(url)) {
		t.Errorf("port %s still has a LISTEN socket after sim watch stopped", port(url))
	}
}

// The token comes from SIM_WATCH_TOKEN when --token is not given, and guards every path.
func TestWatchTokenFromEnv(t *testing.T) {
	const token = "watch-test-token-0123456789"
	srv := startServe(t, "--topology", "self", "--max-threads", "4")
	w := startWatch(t, []string{"SIM_WATCH_TOKEN=" + token}, "--port", port(srv.URL("app")), "--pid", strconv.Itoa(srv.PID()))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for _, path := range []string{watch.CensusPath, watch.MetricsPath} {
		resp, err := hc.Get(w.URL("watch") + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", path, resp.StatusCode)
		}
	}
	c := getCensus(t, hc, w.URL("watch"), token)
	if c.Process == nil || c.Process.PID != srv.PID() || c.Process.FoundBy != watch.FoundByFlag {
		t.Errorf("process %+v (%s), want --pid %d", c.Process, c.ProcessError, srv.PID())
	}
}

// Bad input exits 2 at once, naming the flag and the value, and never shows a token.
func TestWatchBadInput(t *testing.T) {
	const short = "tooshort"
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"port 0", nil, []string{"--port", "0"}, []string{"--port", "0"}},
		{"no port", nil, nil, []string{"--port", "0"}},
		{"port too high", nil, []string{"--port", "65536"}, []string{"--port", "65536"}},
		{"port not a number", nil, []string{"--port", "http"}, []string{"--port", `"http"`}},
		{"negative pid", nil, []string{"--port", "8080", "--pid", "-1"}, []string{"--pid", "-1"}},
		{"no such pid", nil, []string{"--port", "8080", "--pid", "1073741824"}, []string{"--pid", "1073741824"}},
		{"non-loopback without the flag", []string{"SIM_WATCH_TOKEN=0123456789abcdef"}, []string{"--port", "8080", "--addr", "0.0.0.0:0"}, []string{"--addr", "0.0.0.0:0", "--allow-non-loopback"}},
		{"non-loopback without a token", []string{"SIM_WATCH_TOKEN="}, []string{"--port", "8080", "--addr", "0.0.0.0:0", "--allow-non-loopback"}, []string{"--token", "SIM_WATCH_TOKEN"}},
		{"short token", nil, []string{"--port", "8080", "--token", short}, []string{"--token", "8 characters"}},
		{"bad addr", nil, []string{"--port", "8080", "--addr", "localhost"}, []string{"--addr", `"localhost"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := simRunFor(t, t.TempDir(), tt.env, refuseWithin, append([]string{"watch"}, tt.args...)...)
			if code != exitBadInput {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, exitBadInput, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not name %s", stderr, w)
				}
			}
			if strings.Contains(stderr, short) || strings.Contains(stderr, "0123456789abcdef") {
				t.Errorf("stderr shows the token: %q", stderr)
			}
			if stdout != "" {
				t.Errorf("printed %q before refusing", stdout)
			}
		})
	}
}
