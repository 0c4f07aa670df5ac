package static

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// needNginx skips a test when nginx is not installed, except in CI (CI=true), where a missing
// nginx would silently drop the only tests of the real-nginx split topology.
func needNginx(t *testing.T) {
	t.Helper()
	if _, err := findNginx(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %v", err)
		}
		t.Skip("nginx not installed: apt-get install nginx")
	}
}

func startTestNginx(t *testing.T, addr string) (*NginxProcess, string) {
	t.Helper()
	needNginx(t)
	dir := filepath.Join(t.TempDir(), "nginx")
	n, err := StartNginx(context.Background(), addr, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	return n, dir
}

func TestNginxServesPage(t *testing.T) {
	n, _ := startTestNginx(t, "127.0.0.1:0")
	if !strings.HasPrefix(n.URL(), "http://127.0.0.1:") || strings.HasSuffix(n.URL(), ":0") {
		t.Fatalf("URL %q: want http://127.0.0.1:PORT with the port nginx listens on", n.URL())
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for i := range 3 {
		var reused bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+PagePath, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, Page()) {
			t.Fatalf("GET %s: %s, %d bytes; want 200 and the page's %d bytes", PagePath, resp.Status, len(body), len(Page()))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type %q, want the embedded server's text/html; charset=utf-8", ct)
		}
		// The self-call pool keeps its connections: nginx must not close them per request.
		if i > 0 && !reused {
			t.Errorf("request %d opened a new connection: keep-alive is off", i+1)
		}
	}
	resp, err := c.Get(n.URL() + "/other.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other.html: %s, want 404: nginx serves the page and nothing else", resp.Status)
	}
}

func TestNginxFixedPort(t *testing.T) {
	needNginx(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	n, _ := startTestNginx(t, "127.0.0.1:"+port)
	if want := "http://127.0.0.1:" + port; n.URL() != want {
		t.Fatalf("URL %q, want %q", n.URL(), want)
	}
	if !listening(t, port) {
		t.Fatalf("nothing listens on port %s", port)
	}
}

// TestNginxPortTaken: a port another process holds is an error that says so, and leaves no
// nginx behind.
func TestNginxPortTaken(t *testing.T) {
	needNginx(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	_, err = StartNginx(context.Background(), ln.Addr().String(), dir)
	if err == nil || !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("err = %v, want nginx's bind error", err)
	}
	if pids := processesWithCmdline(t, dir); len(pids) > 0 {
		t.Fatalf("nginx processes %v left after a failed start", pids)
	}
}

func TestNginxStopLeavesNothing(t *testing.T) {
	n, dir := startTestNginx(t, "127.0.0.1:0")
	port := n.URL()[strings.LastIndex(n.URL(), ":")+1:]
	master := n.PID()
	// The checks below must be able to see what they look for: the master by its command
	// line, master and worker by their process group, the listener by its port.
	if pids := processesWithCmdline(t, dir); len(pids) == 0 {
		t.Fatalf("no process has %s in its command line while nginx runs", dir)
	}
	if pids := processGroup(t, master); len(pids) < 2 {
		t.Fatalf("process group %d holds %v; want nginx's master and worker", master, pids)
	}
	if !listening(t, port) {
		t.Fatalf("nginx does not listen on port %s", port)
	}

	if err := n.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if pids := processesWithCmdline(t, dir); len(pids) > 0 {
		t.Errorf("processes %v with %s in their command line survived Stop", pids, dir)
	}
	if pids := processGroup(t, master); len(pids) > 0 {
		t.Errorf("processes %v of nginx's group %d survived Stop", pids, master)
	}
	if listening(t, port) {
		t.Errorf("port %s still has a LISTEN socket after Stop", port)
	}
	if err := n.Stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func TestNginxNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	old := nginxFallback
	nginxFallback = filepath.Join(t.TempDir(), "no", "nginx")
	t.Cleanup(func() { nginxFallback = old })

	_, err := StartNginx(context.Background(), "127.0.0.1:0", t.TempDir())
	if !errors.Is(err, ErrNginxNotFound) {
		t.Fatalf("err = %v, want ErrNginxNotFound", err)
	}
	for _, want := range []string{"apt-get install nginx", "Debian package nginx", "embedded static server", nginxFallback} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}

func TestNginxConf(t *testing.T) {
	conf := string(nginxConf("/run/sim x", "127.0.0.1:8088"))
	for _, want := range []string{
		"daemon off;", "master_process on;", "worker_processes 1;",
		`pid "/run/sim x/nginx.pid";`, "access_log off;",
		`client_body_temp_path "/run/sim x/temp/client_body";`,
		"listen 127.0.0.1:8088;", `root "/run/sim x/html";`,
		`include "/run/sim x/static-site.conf";`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("generated nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	// Everything about the site lives in the shared file, not in the generated one.
	if strings.Contains(conf, "location") || strings.Contains(conf, "keepalive") {
		t.Errorf("generated nginx.conf holds site settings that belong in %s:\n%s", SiteConfPath, conf)
	}
	for _, want := range []string{"location /static/", "keepalive_requests 10000;"} {
		if !bytes.Contains(SiteConf(), []byte(want)) {
			t.Errorf("%s lacks %q", SiteConfPath, want)
		}
	}
}

func TestNginxWorkDirRejectsConfigSyntax(t *testing.T) {
	needNginx(t)
	_, err := StartNginx(context.Background(), "127.0.0.1:0", filepath.Join(t.TempDir(), "a;b"))
	if err == nil || !strings.Contains(err.Error(), "a;b") {
		t.Fatalf("err = %v, want a refusal naming the folder", err)
	}
}

// TestComposeUsesSharedSiteConf: docker-compose's nginx serves with the same site file and
// page as sim's nginx child, so the two cannot drift apart.
func TestComposeUsesSharedSiteConf(t *testing.T) {
	const root = "../.." // the module root, from this package's folder
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc, ok := compose.Services["nginx"]
	if !ok {
		t.Fatal("docker-compose.yml has no nginx service")
	}
	mounts := map[string]string{} // host path, relative to the module root → container path
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Fatalf("nginx volume %q: want HOST:CONTAINER[:ro]", v)
		}
		mounts[filepath.ToSlash(filepath.Clean(parts[0]))] = parts[1]
	}
	siteIn, ok := mounts[SiteConfPath]
	if !ok {
		t.Fatalf("nginx service does not mount %s; its volumes: %v", SiteConfPath, svc.Volumes)
	}
	onDisk, err := os.ReadFile(filepath.Join(root, SiteConfPath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, SiteConf()) {
		t.Fatalf("%s differs from the site file sim's nginx includes", SiteConfPath)
	}
	pageIn, ok := mounts["simulator/static/page.html"]
	if !ok {
		t.Fatalf("nginx service does not mount simulator/static/page.html; its volumes: %v", svc.Volumes)
	}
	if !strings.HasSuffix(pageIn, PagePath) {
		t.Fatalf("page mounted at %s, want it under the root at %s", pageIn, PagePath)
	}
	docRoot := strings.TrimSuffix(pageIn, PagePath)

	// The compose-only wrapper must include the mounted site file and set the root the page
	// was mounted under; nothing else mounted into the container may carry site settings.
	var wrapper []byte
	for host, in := range mounts {
		if strings.HasPrefix(in, "/etc/nginx/conf.d/") {
			if wrapper, err = os.ReadFile(filepath.Join(root, host)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if wrapper == nil {
		t.Fatalf("nginx service mounts no conf.d file to include %s; its volumes: %v", SiteConfPath, svc.Volumes)
	}
	for _, want := range []string{"include " + siteIn + ";", "root " + docRoot + ";"} {
		if !bytes.Contains(wrapper, []byte(want)) {
			t.Errorf("compose wrapper lacks %q:\n%s", want, wrapper)
		}
	}
	if bytes.Contains(wrapper, []byte("location")) || bytes.Contains(wrapper, []byte("keepalive")) {
		t.Errorf("compose wrapper holds site settings that belong in %s:\n%s", SiteConfPath, wrapper)
	}
}

// processesWithCmdline lists the pids whose command line contains s.
func processesWithCmdline(t *testing.T, s string) []int {
	t.Helper()
	var pids []int
	forEachProcess(t, func(pid int) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, pid)
		}
	})
	return pids
}

// processGroup lists the pids in process group pgid, zombies included.
func processGroup(t *testing.T, pgid int) []int {
	t.Helper()
	var pids []int
	forEachProcess(t, func(pid int) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces, so split after its ')'.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	})
	return pids
}

func forEachProcess(t *testing.T, fn func(pid int)) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			fn(pid)
		}
	}
}

// listening reports whether a LISTEN socket (state 0A) is bound to port, IPv4 or IPv6.
func listening(t *testing.T, port string) bool {
	t.Helper()
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("port %q: %v", port, err)
	}
	local := fmt.Sprintf(":%04X", n)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) > 3 && strings.HasSuffix(fields[1], local) && fields[3] == "0A" {
				return true
			}
		}
	}
	return false
}
