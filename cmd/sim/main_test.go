package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/simulator/child"
	"github.com/simdev/sim/simulator/static"
)

// simBin is the sim binary built once for the end-to-end tests.
var simBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sim-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	simBin = filepath.Join(dir, "sim")
	build := exec.Command("go", "build", "-o", simBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sim:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// simRun runs the sim binary to completion and returns its exit code and output.
func simRun(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	return simRunIn(t, "", env, args...)
}

// simRunIn is simRun in the working directory dir.
func simRunIn(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, simBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// startServe starts `sim serve` and stops it when the test ends.
func startServe(t *testing.T, args ...string) *child.Process {
	t.Helper()
	return startServeEnv(t, nil, args...)
}

// startServeEnv is startServe with variables added to sim serve's environment.
func startServeEnv(t *testing.T, env []string, args ...string) *child.Process {
	t.Helper()
	ready := []string{"app", "admin"}
	for _, a := range args {
		if a == "split" || a == "--topology=split" {
			ready = append(ready, "static")
		}
	}
	p, err := child.Start(context.Background(), child.Spec{
		Name:  "sim serve",
		Path:  simBin,
		Args:  append([]string{"serve"}, args...),
		Env:   env,
		Ready: ready,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(3 * time.Second) })
	return p
}

type statsView struct {
	MaxThreads   int   `json:"max_threads"`
	WorkersBusy  int   `json:"workers_busy"`
	AcceptErrors int64 `json:"accept_errors"`
	FDsOpen      int   `json:"fds_open"`
	FDLimit      int   `json:"fd_limit"`
	ConnsOpen    int64 `json:"connections_open"`
}

// adminClient keeps one connection to the admin listener from the start: once the app is at its
// fd limit a new connection would fail (PITFALLS.md).
func adminClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 3 * time.Second}
}

func getStats(t *testing.T, c *http.Client, admin string) statsView {
	t.Helper()
	resp, err := c.Get(admin + "/stats")
	if err != nil {
		t.Fatalf("admin /stats: %v", err)
	}
	defer resp.Body.Close()
	var s statsView
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func listening(port string) bool {
	out, _ := os.ReadFile("/proc/net/tcp")
	out6, _ := os.ReadFile("/proc/net/tcp6")
	hexPort := fmt.Sprintf(":%04X 00000000:0000 0A", mustAtoi(port))
	hexPort6 := fmt.Sprintf(":%04X 00000000000000000000000000000000:0000 0A", mustAtoi(port))
	return bytes.Contains(out, []byte(hexPort)) || bytes.Contains(out6, []byte(hexPort6))
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscanf(s, "%d", &n)
	return n
}

func port(url string) string { return url[strings.LastIndex(url, ":")+1:] }

// needNginx skips a test when nginx is not installed, except in CI (CI=true).
func needNginx(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err == nil {
		return
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true and nginx is not installed: apt-get install nginx")
	}
	t.Skip("nginx not installed: apt-get install nginx")
}

// processesWithCmdline lists the pids whose command line contains s.
func processesWithCmdline(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestServeStopsCleanly(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		nginx bool
	}{
		{"self", []string{"--topology", "self"}, false},
		{"split", []string{"--topology", "split"}, false},
		{"split nginx", []string{"--topology", "split", "--static-server", "nginx"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env []string
			tmp := t.TempDir()
			if tt.nginx {
				needNginx(t)
				// nginx's work dir is a fresh temp dir: under TMPDIR, so that the test can find
				// nginx by its command line and see that the dir is removed.
				env = []string{"TMPDIR=" + tmp}
			}
			p := startServeEnv(t, env, append(tt.args, "--max-threads", "4")...)
			if tt.nginx && len(processesWithCmdline(t, tmp)) == 0 {
				t.Fatalf("no nginx runs with its work dir under %s", tmp)
			}
			resp, err := http.Get(p.URL("app") + "/page")
			if err != nil {
				t.Fatal(err)
			}
			body := new(bytes.Buffer)
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(body.String(), "static-fragment") {
				t.Fatalf("/page: %d %q", resp.StatusCode, body.String())
			}
			ports := []string{port(p.URL("app")), port(p.URL("admin"))}
			if p.URL("static") != "" {
				ports = append(ports, port(p.URL("static")))
			}
			if err := p.Stop(5 * time.Second); err != nil {
				t.Fatalf("stop: %v (%s)", err, p.Output())
			}
			if err := p.Err(); err != nil {
				t.Fatalf("exit after SIGTERM: %v (%s)", err, p.Output())
			}
			for _, pt := range ports {
				if listening(pt) {
					t.Errorf("port %s still has a LISTEN socket after sim serve stopped", pt)
				}
			}
			if tt.nginx {
				if pids := processesWithCmdline(t, tmp); len(pids) > 0 {
					t.Errorf("nginx processes %v survived sim serve", pids)
				}
				if left, _ := os.ReadDir(tmp); len(left) > 0 {
					t.Errorf("nginx's temp work dir was not removed: %s holds %v", tmp, left)
				}
			}
		})
	}
}

// --static-dir keeps nginx's files where the user asked, for a run record.
func TestServeNginxStaticDir(t *testing.T) {
	needNginx(t)
	dir := filepath.Join(t.TempDir(), "nginx")
	p := startServe(t, "--topology", "split", "--static-server", "nginx", "--static-dir", dir)
	resp, err := http.Get(p.URL("static") + "/static/page.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Server") != "nginx" {
		t.Fatalf("static server answered %s, Server %q; want 200 from nginx", resp.Status, resp.Header.Get("Server"))
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("stop: %v (%s)", err, p.Output())
	}
	if pids := processesWithCmdline(t, dir); len(pids) > 0 {
		t.Errorf("nginx processes %v survived sim serve", pids)
	}
	for _, f := range []string{"nginx.conf", "static-site.conf", "error.log"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("--static-dir lost nginx's %s: %v", f, err)
		}
	}
}

// --static-url sends the self-call to a server sim does not start (docker-compose's nginx).
func TestServeStaticURL(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	urlc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- static.Serve(ctx, "127.0.0.1:0", func(u string) { urlc <- u }) }()
	defer func() { cancel(); <-done }()
	var staticURL string
	select {
	case staticURL = <-urlc:
	case err := <-done:
		t.Fatal(err)
	}
	p := startServe(t, "--topology", "split", "--static-url", staticURL+"/", "--max-threads", "4")
	if got := p.URL("static"); got != staticURL {
		t.Errorf("static line %q, want %q", got, staticURL)
	}
	resp, err := http.Get(p.URL("app") + "/page")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(body.String(), "static-fragment") {
		t.Fatalf("/page: %d %q", resp.StatusCode, body.String())
	}
	// No static server of its own: sim serve has no child process.
	if kids := childrenOf(t, p.PID()); len(kids) > 0 {
		t.Errorf("sim serve started child processes %v although --static-url was given", kids)
	}
}

// childrenOf lists the pids whose parent is pid.
func childrenOf(t *testing.T, pid int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after its ')'.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 && f[1] == fmt.Sprint(pid) {
			kids = append(kids, e.Name())
		}
	}
	return kids
}

// --allow-non-loopback lifts the loopback-only check, for containers; the self-call still
// goes over loopback.
func TestServeAllowNonLoopback(t *testing.T) {
	p := startServe(t, "--topology", "self", "--addr", "0.0.0.0:0", "--allow-non-loopback", "--max-threads", "4")
	resp, err := http.Get("http://127.0.0.1:" + port(p.URL("app")) + "/page")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(body.String(), "static-fragment") {
		t.Fatalf("/page: %d %q", resp.StatusCode, body.String())
	}
}

func TestServeBadConfigExits2(t *testing.T) {
	yaml := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(yaml, []byte("max_threads: 4\nmax_thread: 5\n"), 0o644)
	tests := []struct {
		name  string
		env   []string
		args  []string
		field string
	}{
		{"flag out of range", nil, []string{"--max-threads", "0"}, "max_threads"},
		{"unknown topology", nil, []string{"--topology", "loop"}, "topology"},
		{"env wrong type", []string{"SIM_MAX_THREADS=many"}, nil, "max_threads"},
		{"env bad connector", []string{"SIM_CONNECTOR=apr"}, nil, "connector"},
		{"bare number duration", nil, []string{"--work-time", "100"}, "work-time"},
		{"unknown key in file", nil, []string{"--config", yaml}, "max_thread"},
		{"missing file", nil, []string{"--config", "/nonexistent.yaml"}, "--config"},
		{"non-loopback", nil, []string{"--addr", "0.0.0.0:8080"}, "addr"},
		{"unknown static server", nil, []string{"--topology", "split", "--static-server", "apache"}, "static.server"},
		{"static url with self", nil, []string{"--static-url", "http://nginx"}, "static.url"},
		{"static url not http", nil, []string{"--topology", "split", "--static-url", "ftp://nginx"}, "static.url"},
		{"bad port with allow-non-loopback", nil, []string{"--addr", "0.0.0.0:99999", "--allow-non-loopback"}, "addr"},
		{"unknown flag", nil, []string{"--max-treads", "4"}, "max-treads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := simRun(t, tt.env, append([]string{"serve"}, tt.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr)
			}
			if !strings.Contains(stderr, tt.field) {
				t.Fatalf("message %q does not name %q", stderr, tt.field)
			}
			if stdout != "" {
				t.Fatalf("printed listeners although the config was bad: %q", stdout)
			}
		})
	}
}

func TestServeConfigPrecedence(t *testing.T) {
	yaml := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(yaml, []byte("max_threads: 7\nwork_time: 50ms\nstatic:\n  server: embedded\n"), 0o644)
	tests := []struct {
		name string
		env  string
		args []string
		want int
	}{
		{"file", "", []string{"--config", yaml}, 7},
		{"env over file", "8", []string{"--config", yaml}, 8},
		{"flag over env", "8", []string{"--config", yaml, "--max-threads", "9"}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("SIM_MAX_THREADS", tt.env)
			}
			p := startServe(t, tt.args...)
			if got := getStats(t, adminClient(t), p.URL("admin")).MaxThreads; got != tt.want {
				t.Fatalf("max_threads = %d, want %d", got, tt.want)
			}
		})
	}
}

// nofile is applied to the process itself, and at the limit the acceptor backs off and retries
// instead of exiting; once descriptors are free again it serves.
func TestServeNoFile(t *testing.T) {
	p := startServe(t, "--topology", "split", "--nofile", "128", "--max-threads", "4")
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.PID()))
	if err != nil {
		t.Fatal(err)
	}
	var soft, hard string
	for _, l := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(l, "Max open files") {
			f := strings.Fields(l)
			soft, hard = f[3], f[4]
		}
	}
	if soft != "128" || hard != "128" {
		t.Fatalf("Max open files soft=%s hard=%s, want 128 128", soft, hard)
	}
	admin := adminClient(t)
	_ = getStats(t, admin, p.URL("admin"))

	addr := strings.TrimPrefix(p.URL("app"), "http://")
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	d := &netDialer{}
	// 200 connections is well past the limit of 128 fds. A dial can time out when the accept
	// queue is full for a moment (a busy machine delays the acceptor and the kernel drops the
	// SYN): keep dialing rather than stopping short of the limit, until 20 dials in a row fail
	// (the limit is reached and the backlog is full for good).
	for attempts, fails := 0, 0; attempts < 400 && len(conns) < 200 && fails < 20; attempts++ {
		c, err := d.dial(addr)
		if err != nil {
			fails++
			continue
		}
		fails = 0
		conns = append(conns, c)
	}
	// At the limit: accept() fails and nearly every descriptor is open.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := getStats(t, admin, p.URL("admin"))
		if s.AcceptErrors > 0 && s.FDsOpen >= 120 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("accept_errors %d, fds_open %d: want accept errors and >= 120 fds open at the limit of 128", s.AcceptErrors, s.FDsOpen)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-p.Done():
		t.Fatalf("sim serve exited at the fd limit: %v %s", p.Err(), p.Output())
	case <-time.After(500 * time.Millisecond):
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	// Free again: the acceptor's back-off is at most 1.6 s.
	deadline = time.Now().Add(10 * time.Second)
	for {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(p.URL("app") + "/page")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if resp != nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("app did not serve again after the connections closed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
