package static

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/simdev/sim/simulator/child"
)

// SiteConfPath is the shared nginx site file, relative to the module root. docker-compose.yml
// mounts this very file into its nginx container; sim's nginx child includes an embedded copy.
const SiteConfPath = "simulator/static/nginx/static-site.conf"

//go:embed nginx/static-site.conf
var siteConf []byte

// SiteConf returns the shared nginx site file: the /static/ location and keep-alive settings,
// to be included inside a server block that sets listen and root.
func SiteConf() []byte { return siteConf }

// ErrNginxNotFound is wrapped by StartNginx's error when no nginx binary exists.
var ErrNginxNotFound = errors.New("nginx not found")

// nginxFallback is where Debian's package installs nginx, tried when it is not on PATH (sbin
// is often missing from a user's PATH). A variable so that tests can point it elsewhere.
var nginxFallback = "/usr/sbin/nginx"

const (
	// nginxStopGrace is how long nginx gets for its fast shutdown (SIGTERM) before SIGKILL; it
	// closes every connection at once, so a second is plenty.
	nginxStopGrace = 3 * time.Second
	// nginxGoneWait bounds the wait for the worker processes to vanish once the master is gone.
	nginxGoneWait = 2 * time.Second
	// nginxWorkerConnections is above the largest allowed max_total (10000), so nginx never
	// refuses the app's self-call pool; the app is its only client. Lowered to what the
	// inherited RLIMIT_NOFILE allows (see workerConnections).
	nginxWorkerConnections = 10240
	// nginxReservedFiles are descriptors nginx keeps besides connections: logs, listeners, the
	// master's channel, the page being sent.
	nginxReservedFiles = 32
	// nginxMinWorkerConnections is nginx's own default (512).
	nginxMinWorkerConnections = 512
	// nginxReadyProbeTimeout bounds one readiness GET.
	nginxReadyProbeTimeout = time.Second
)

// NginxProcess is Debian's nginx, started by StartNginx with a generated config, serving the
// page at PagePath.
type NginxProcess struct {
	p       *child.Process
	url     string
	workDir string
}

var _ Server = (*NginxProcess)(nil)

// StartNginx writes an nginx config and the page into workDir (created if missing) and runs
// nginx in the foreground as an owned child listening on addr; port 0 picks a free port. It
// returns once nginx serves the page. The error wraps ErrNginxNotFound if nginx is not installed.
func StartNginx(ctx context.Context, addr, workDir string) (*NginxProcess, error) {
	bin, err := findNginx()
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("nginx address %q: %w", addr, err)
	}
	workDir, err = filepath.Abs(workDir)
	if err != nil {
		return nil, fmt.Errorf("nginx work dir: %w", err)
	}
	if strings.ContainsAny(workDir, "\"\\$;{}\n\r") {
		return nil, fmt.Errorf("nginx work dir %q: contains a character nginx's config syntax would misread", workDir)
	}
	if err := writeNginxFiles(workDir); err != nil {
		return nil, err
	}
	// With port 0 the port is picked here and handed to nginx, which cannot report one it
	// picked itself. Another process may take it in between: then nginx fails to bind and one
	// retry with a fresh port settles it.
	attempts := 1
	if port == "0" {
		attempts = 2
	}
	for i := 0; ; i++ {
		p := port
		if p == "0" {
			if p, err = freePort(host); err != nil {
				return nil, err
			}
		}
		n, err := startNginx(ctx, bin, host, p, workDir)
		if err == nil || i+1 >= attempts || !strings.Contains(err.Error(), "Address already in use") {
			return n, err
		}
	}
}

func startNginx(ctx context.Context, bin, host, port, workDir string) (*NginxProcess, error) {
	listen := net.JoinHostPort(host, port)
	if host == "" {
		listen = port
	}
	conf := filepath.Join(workDir, "nginx.conf")
	if err := os.WriteFile(conf, nginxConf(workDir, listen), 0o644); err != nil {
		return nil, fmt.Errorf("write nginx config: %w", err)
	}
	url := "http://" + net.JoinHostPort(dialHost(host), port)
	probe := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		Timeout:   nginxReadyProbeTimeout,
	}
	p, err := child.Start(ctx, child.Spec{
		Name: "nginx",
		Path: bin,
		// -e: the error log before the config is read; Debian's default would be a file under
		// /var/log/nginx.
		Args:      []string{"-p", workDir, "-c", conf, "-e", "stderr"},
		Dir:       workDir,
		ReadyFunc: func(ctx context.Context) error { return probePage(ctx, probe, url) },
		// If sim dies, the master must get the chance to stop its worker.
		DeathSignal: syscall.SIGTERM,
	})
	if err != nil {
		return nil, err
	}
	return &NginxProcess{p: p, url: url, workDir: workDir}, nil
}

// URL is nginx's base URL.
func (n *NginxProcess) URL() string { return n.url }

// WorkDir is the folder holding nginx's config, pid, error log and temp files.
func (n *NginxProcess) WorkDir() string { return n.workDir }

// PID is the nginx master's process id; its workers are in its process group.
func (n *NginxProcess) PID() int { return n.p.PID() }

// Stop ends nginx's process group (SIGTERM: fast shutdown; SIGKILL after a grace period) and
// returns once the master and its workers are gone.
func (n *NginxProcess) Stop() error {
	err := n.p.Stop(nginxStopGrace)
	// The master reaps its workers before it exits on SIGTERM, but after a SIGKILL the workers
	// are orphans dying on their own: wait for them too.
	deadline := time.Now().Add(nginxGoneWait)
	for syscall.Kill(-n.p.PID(), 0) == nil {
		if time.Now().After(deadline) {
			return errors.Join(err, fmt.Errorf("nginx processes of group %d still alive %s after stop", n.p.PID(), nginxGoneWait))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// findNginx returns nginx on PATH, else at nginxFallback.
// FindNginx returns the path of Debian's nginx binary, or an error wrapping ErrNginxNotFound that
// says how to install it.
func FindNginx() (string, error) { return findNginx() }

func findNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat(nginxFallback); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return nginxFallback, nil
	}
	return "", fmt.Errorf("%w on PATH or at %s: install it with 'apt-get install nginx' (Debian package nginx), or use the embedded static server", ErrNginxNotFound, nginxFallback)
}

// writeNginxFiles puts the shared site file and the page under workDir; the page goes to
// html/static/page.html so that root html serves it at PagePath.
func writeNginxFiles(workDir string) error {
	pageDir := filepath.Join(workDir, "html", filepath.FromSlash(filepath.Dir(PagePath)))
	if err := os.MkdirAll(pageDir, 0o755); err != nil {
		return fmt.Errorf("nginx work dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(workDir, "temp"), 0o755); err != nil {
		return fmt.Errorf("nginx work dir: %w", err)
	}
	files := []struct {
		path string
		data []byte
	}{
		{filepath.Join(workDir, "static-site.conf"), siteConf},
		{filepath.Join(pageDir, filepath.Base(PagePath)), page},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			return fmt.Errorf("write nginx files: %w", err)
		}
	}
	return nil
}

// nginxConf renders the top-level config: process and file locations, all inside workDir, and
// a server block with the listen address and root around the shared site file.
func nginxConf(workDir, listen string) []byte {
	q := func(elem ...string) string { return `"` + filepath.Join(append([]string{workDir}, elem...)...) + `"` }
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Generated by sim (simulator/static/nginx.go) on every start; edit %s instead.\n", SiteConfPath)
	b.WriteString("daemon off;\nmaster_process on;\nworker_processes 1;\n")
	if os.Geteuid() == 0 {
		// As root, nginx would run its workers as nobody, who cannot read a page inside a
		// private (0700) temp or run folder. It listens on loopback and serves one file.
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, "pid %s;\n", q("nginx.pid"))
	fmt.Fprintf(&b, "error_log stderr warn;\nerror_log %s notice;\n", q("error.log"))
	fmt.Fprintf(&b, "events {\n    worker_connections %d;\n}\n", workerConnections())
	b.WriteString("http {\n    access_log off;\n    sendfile on;\n")
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "    %s_temp_path %s;\n", t, q("temp", t))
	}
	fmt.Fprintf(&b, "    server {\n        listen %s;\n        root %s;\n        include %s;\n    }\n}\n",
		listen, q("html"), q("static-site.conf"))
	return b.Bytes()
}

// workerConnections fits nginxWorkerConnections under the RLIMIT_NOFILE nginx inherits (sim
// serve sets nofile on itself, 4096 by default): more would only make nginx warn at start.
func workerConnections() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur >= nginxWorkerConnections+nginxReservedFiles {
		return nginxWorkerConnections
	}
	return max(int(rl.Cur)-nginxReservedFiles, nginxMinWorkerConnections)
}

// probePage succeeds once url serves the page's exact bytes.
func probePage(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+PagePath, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, page) {
		return fmt.Errorf("GET %s: %s, %d bytes", url+PagePath, resp.Status, len(body))
	}
	return nil
}

// freePort asks the kernel for a free port on host and releases it for nginx.
func freePort(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("pick a port for nginx: %w", err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// dialHost is the host to reach a listener on host at: loopback for the wildcard addresses.
func dialHost(host string) string {
	switch host {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return host
}
