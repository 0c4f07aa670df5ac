// Package compose holds the compose test: docker-compose.yml brought up on a docker daemon,
// loaded from the host, checked as a user would check it. A package of its own, apart from
// deploy's Kubernetes checks, so that its test binary builds quickly (deploy/compose/ci.sh
// builds it after starting a daemon).
package compose

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simdev/sim/results"
)

// root is the repository root, from this package's folder.
const root = "../.."

// The compose test brings docker-compose.yml up on a docker daemon, loads both apps from the
// host through their published ports with the sidecars' census, and checks what a user would
// check. It needs a daemon and the images: deploy/compose/ci.sh starts a daemon of its own,
// builds the images without a registry and runs this test with SIM_COMPOSE=1 (docs/
// docker-compose.md). Plain `go test ./...` skips it.

// composeAppEnv sizes both apps for a small machine: 16 workers x 200 ms deadlock near 80 rps
// (testdata/load.yaml ramps past it), where Tomcat's default 200 workers x 100 ms would
// need some 2,000 rps through docker-proxy.
var composeAppEnv = []string{"SIM_MAX_THREADS=16", "SIM_WORK_TIME=200ms"}

// composePorts are the ports docker-compose.yml publishes on the host's loopback.
var composePorts = []int{8080, 8081, 8082, 8088, 8090, 8091, 8092}

// containerNoFile is the nofile ulimit docker-compose.yml gives the sim services, and appNoFile
// the limit the app sets on itself by default (serverconf.DefaultNoFile): the app's must be
// below the container's for the app to run out of fds first, as in the incident.
const (
	containerNoFile = 8192
	appNoFile       = 4096
)

// Deadlines: each is several times what the step took on a busy 2-core machine (docs/
// docker-compose.md has the figures), so that only a stuck step trips one.
const (
	composeUpTimeout   = 3 * time.Minute
	readyTimeout       = 90 * time.Second
	loadTimeout        = 3 * time.Minute
	runnerTimeout      = 2 * time.Minute
	composeDownTimeout = 2 * time.Minute
	hostSSInterval     = 500 * time.Millisecond
)

// minCensusCloseWait is the least peak CLOSE_WAIT the sidecar must report for app-self: after
// the hang every timed-out client (1 s timeout, up to 100 rps offered) leaves one, so a run that
// hangs with seconds of load left piles up hundreds; 50 only rules out a census that sees none.
const minCensusCloseWait = 50

func TestCompose(t *testing.T) {
	if os.Getenv("SIM_COMPOSE") != "1" {
		t.Skip("the compose test runs under deploy/compose/ci.sh, which starts a docker daemon of its own and builds the images (it sets SIM_COMPOSE=1)")
	}
	c := newCompose(t)
	c.up()
	c.waitReady()
	c.checkNoFile()

	self, split, host := c.load()
	t.Logf("app-self:  verdict %s, peak CLOSE_WAIT %d from the sidecar's census (%d of %d windows missing); recovered %v",
		self.Verdict, self.PeakCloseWait, self.Census.Gaps, self.Census.Windows, self.Recovered)
	t.Logf("app-split: verdict %s, peak CLOSE_WAIT %d from the sidecar's census; recovered %v after %s",
		split.Verdict, split.PeakCloseWait, split.Recovered, seconds(split.RecoveryS))
	t.Logf("host's ss on :8080 at most: CLOSE_WAIT %d held by sim, %d by docker-proxy, %d by others; on :8090: %d, %d, %d",
		host[8080].sim, host[8080].proxy, host[8080].other, host[8090].sim, host[8090].proxy, host[8090].other)

	if self.Verdict != results.VerdictHang {
		t.Errorf("app-self: verdict %q, want %q (the incident: it collapses and does not recover)", self.Verdict, results.VerdictHang)
	}
	if self.PeakCloseWait < minCensusCloseWait {
		t.Errorf("app-self: peak CLOSE_WAIT %d from the sidecar, want at least %d", self.PeakCloseWait, minCensusCloseWait)
	}
	if split.Verdict == results.VerdictHang || !split.Recovered {
		t.Errorf("app-split: verdict %q, recovered %v: want no hang and recovery after the load (nginx serves its self-call)", split.Verdict, split.Recovered)
	}
	for _, s := range []*results.Summary{self, split} {
		if s.Census == nil || s.Census.Source != results.CensusAgent {
			t.Errorf("%s: census %+v, want the sidecar's (source %q)", s.AppURL, s.Census, results.CensusAgent)
		} else if s.Census.Gaps*2 > s.Census.Windows {
			// A census that misses half a sample interval is a gap; on a busy 2-core machine
			// some are (9 of 113 measured), but most windows must have one.
			t.Errorf("%s: %d of %d census windows missing, want at most half", s.AppURL, s.Census.Gaps, s.Census.Windows)
		}
	}
	// The app's CLOSE_WAIT sockets live in its container's network namespace: the host's ss
	// sees none of them. What it sees on the published port is docker-proxy's side of each
	// connection (the userland proxy half-closes towards the app and waits), or nothing where
	// the port is NATed.
	for _, port := range []int{8080, 8090} {
		if n := host[port].sim; n > 0 {
			t.Errorf("host's ss: %d CLOSE_WAIT sockets on :%d held by sim itself, want none (the app runs in its container's namespace)", n, port)
		}
		if n := host[port].other; n > 0 {
			t.Errorf("host's ss: %d CLOSE_WAIT sockets on :%d held neither by docker-proxy nor by sim", n, port)
		}
	}

	c.runner()
	c.down()
}

// compose runs docker-compose on the repository's compose file, as a project of its own.
type compose struct {
	t       *testing.T
	project string
	token   string
	runs    string // SIM_RUNS_DIR: the runner's record folder on the host
	sim     string // a sim binary for the host
	docker  string // the docker CLI
	env     []string
}

func newCompose(t *testing.T) *compose {
	t.Helper()
	for _, prog := range []struct{ name, pkg string }{{"docker-compose", "docker-compose"}, {"ss", "iproute2"}} {
		if _, err := exec.LookPath(prog.name); err != nil {
			skipOrFail(t, "%s not found (Debian package %s)", prog.name, prog.pkg)
		}
	}
	// SIM_DOCKER: deploy/compose/ci.sh names Debian's docker CLI, as a newer one may come first
	// in PATH.
	docker := os.Getenv("SIM_DOCKER")
	if docker == "" {
		docker = "docker"
	}
	if out, err := exec.Command(docker, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		skipOrFail(t, "no docker daemon answers (DOCKER_HOST=%q): %v: %s", os.Getenv("DOCKER_HOST"), err, bytes.TrimSpace(out))
	}
	for _, p := range composePorts {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port 127.0.0.1:%d, which docker-compose.yml publishes, is taken: %v (another compose project up?)", p, err)
		}
		l.Close()
	}
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	c := &compose{
		t:       t,
		project: fmt.Sprintf("simtest%d", os.Getpid()),
		token:   hex.EncodeToString(buf),
		runs:    t.TempDir(),
		docker:  docker,
	}
	c.env = append(append(os.Environ(), composeAppEnv...), "SIM_WATCH_TOKEN="+c.token, "SIM_RUNS_DIR="+c.runs)
	c.sim = os.Getenv("SIM_BIN")
	if c.sim == "" {
		c.sim = filepath.Join(t.TempDir(), "sim")
		build := exec.Command("go", "build", "-o", c.sim, filepath.Join(root, "cmd", "sim"))
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build sim: %v\n%s", err, out)
		}
	}
	// Down on every path: a failed assertion, a timeout, or a panic in the test.
	t.Cleanup(func() {
		if _, err := c.compose(composeDownTimeout, "down", "--volumes", "--remove-orphans"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return c
}

// skipOrFail skips where the test cannot run, except in CI (CI=true), where it fails.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// compose runs docker-compose with every profile (so that down stops the sidecars and the
// runner too) and returns its combined output.
func (c *compose) compose(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{"-f", filepath.Join(root, "docker-compose.yml"), "-p", c.project,
		"--profile", "watch", "--profile", "tools"}, args...)
	cmd := exec.CommandContext(ctx, "docker-compose", full...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker-compose %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// up starts app-self, app-split, nginx and the watch profile's sidecars, not the runner.
func (c *compose) up() {
	c.t.Helper()
	start := time.Now()
	if _, err := c.compose(composeUpTimeout, "up", "-d", "app-self", "app-split", "nginx", "watch-self", "watch-split"); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("docker-compose up: %.1f s", time.Since(start).Seconds())
}

// waitReady waits until every published port answers: the apps' admin listeners, nginx, and
// the sidecars (with the token).
func (c *compose) waitReady() {
	c.t.Helper()
	start := time.Now()
	urls := []string{"http://127.0.0.1:8081/healthz", "http://127.0.0.1:8091/healthz",
		"http://127.0.0.1:8088/static/page.html", "http://127.0.0.1:8082/census", "http://127.0.0.1:8092/census",
		"http://127.0.0.1:8080/page", "http://127.0.0.1:8090/page"}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for _, u := range urls {
		for {
			err := c.get(client, u, nil)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				logs, _ := c.compose(time.Minute, "logs", "--no-color")
				c.t.Fatalf("not ready after %s: %v\n%s", readyTimeout, err, logs)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	c.t.Logf("ready %.1f s after up", time.Since(start).Seconds())
}

// get sends GET u (with the token to a sidecar) and decodes a JSON answer into v, if not nil.
func (c *compose) get(client *http.Client, u string, v any) error {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if v == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// checkNoFile checks the fd limits: app-self's own (seen by its sidecar) below its
// container's, and a nofile above the container's refused with a message saying so.
func (c *compose) checkNoFile() {
	c.t.Helper()
	var census struct {
		Process struct {
			MaxFDs int `json:"max_fds"`
		} `json:"process"`
	}
	if err := c.get(&http.Client{Timeout: 5 * time.Second}, "http://127.0.0.1:8082/census", &census); err != nil {
		c.t.Fatal(err)
	}
	if census.Process.MaxFDs != appNoFile {
		c.t.Errorf("app-self's fd limit from its sidecar: %d, want %d (sim's nofile)", census.Process.MaxFDs, appNoFile)
	}
	out, err := c.compose(time.Minute, "exec", "-T", "app-self", "sh", "-c", "ulimit -Hn")
	if err != nil {
		c.t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != strconv.Itoa(containerNoFile) {
		c.t.Errorf("app-self's container: hard nofile %q, want %d (docker-compose.yml ulimits)", got, containerNoFile)
	}
	// One more than the container allows: sim serve must refuse it (exit 2), not run with less.
	ask := strconv.Itoa(containerNoFile + 1)
	out, err = c.compose(time.Minute, "run", "--rm", "--no-deps", "-T", "app-self", "serve", "--nofile", ask)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		c.t.Errorf("sim serve --nofile %s in a container with nofile %d: %v, want exit 2\n%s", ask, containerNoFile, err, out)
	}
	if want := fmt.Sprintf("nofile: %s is not allowed", ask); !strings.Contains(out, want) || !strings.Contains(out, strconv.Itoa(containerNoFile)+" here") {
		c.t.Errorf("sim serve --nofile %s: message lacks %q and the container's limit %d:\n%s", ask, want, containerNoFile, out)
	}
}

// hostCloseWait is the most CLOSE_WAIT sockets the host's ss showed on a published port, by
// the process holding them.
type hostCloseWait struct{ sim, proxy, other int }

// load runs sim run from the host against app-self and app-split at once, each with its
// sidecar's census, while sampling the host's own ss on the two published ports.
func (c *compose) load() (self, split *results.Summary, host map[int]hostCloseWait) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	host = map[int]hostCloseWait{}
	var hostErr error
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(hostSSInterval)
		defer tick.Stop()
		for {
			for _, port := range []int{8080, 8090} {
				n, err := hostSS(ctx, port)
				if err != nil {
					if ctx.Err() == nil {
						hostErr = err
					}
					return
				}
				m := host[port]
				m.sim, m.proxy, m.other = max(m.sim, n.sim), max(m.proxy, n.proxy), max(m.other, n.other)
				host[port] = m
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var wg sync.WaitGroup
	sums := make([]*results.Summary, 2)
	errs := make([]error, 2)
	for i, ports := range [][3]int{{8080, 8081, 8082}, {8090, 8091, 8092}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i], errs[i] = c.simRun(ctx, ports)
		}()
	}
	wg.Wait()
	cancel()
	<-sampled
	for _, err := range errs {
		if err != nil {
			c.t.Fatal(err)
		}
	}
	if hostErr != nil {
		c.t.Fatal(hostErr)
	}
	return sums[0], sums[1], host
}

// simRun runs `sim run --target` on an app's published port with its sidecar's census and
// returns the record's summary.
func (c *compose) simRun(ctx context.Context, ports [3]int) (*results.Summary, error) {
	out := filepath.Join(c.t.TempDir(), "runs")
	cmd := exec.CommandContext(ctx, c.sim, "run",
		"--target", fmt.Sprintf("http://127.0.0.1:%d/page", ports[0]),
		"--admin", fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		"--watch", fmt.Sprintf("http://127.0.0.1:%d", ports[2]),
		"--profile", filepath.Join("testdata", "load.yaml"),
		"--out", out, "--json")
	cmd.Env = append(os.Environ(), "SIM_WATCH_TOKEN="+c.token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("sim run on :%d: %w\n%s", ports[0], err, stderr.String())
	}
	var s results.Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		return nil, fmt.Errorf("sim run on :%d: summary: %w\n%s", ports[0], err, stdout.String())
	}
	return &s, nil
}

// hostSS counts the CLOSE_WAIT sockets the host's ss shows on local port port, by the process
// holding them (ss -p: every process's sockets when run as root).
func hostSS(ctx context.Context, port int) (hostCloseWait, error) {
	out, err := exec.CommandContext(ctx, "ss", "-Htanp", "state", "close-wait", fmt.Sprintf("( sport = :%d )", port)).Output()
	if err != nil {
		return hostCloseWait{}, fmt.Errorf("ss on :%d: %w", port, err)
	}
	var n hostCloseWait
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case line == "":
		case strings.Contains(line, `(("docker-proxy"`):
			n.proxy++
		case strings.Contains(line, `(("sim"`):
			n.sim++
		default:
			n.other++
		}
	}
	return n, nil
}

// runner runs the runner service's own sim run (a short split run inside its container) and
// checks that its record lands in the host folder.
func (c *compose) runner() {
	c.t.Helper()
	// The runner sees the host folder as /runs, so the profile goes there too.
	profile := "stages: [{duration: 4s, mode: hold, target: 20}]\n" +
		"recovery: {duration: 2s, interval: 500ms, timeout: 1s}\n" +
		"server: {max_threads: 16, work_time: 50ms}\n"
	if err := os.WriteFile(filepath.Join(c.runs, "runner.yaml"), []byte(profile), 0o644); err != nil {
		c.t.Fatal(err)
	}
	start := time.Now()
	if out, err := c.compose(runnerTimeout, "run", "--rm", "-T", "runner", "run", "--topology", "split",
		"--profile", "/runs/runner.yaml", "--out", "/runs"); err != nil {
		c.t.Fatal(err)
	} else {
		c.t.Logf("runner: %.1f s\n%s", time.Since(start).Seconds(), tailLines(out, 9))
	}
	entries, err := os.ReadDir(c.runs)
	if err != nil {
		c.t.Fatal(err)
	}
	var records []string
	for _, e := range entries {
		if e.IsDir() {
			records = append(records, e.Name())
		}
	}
	if len(records) != 1 {
		c.t.Fatalf("runner: %d records in the host folder %s (%v), want 1", len(records), c.runs, records)
	}
	rec, err := results.Read(filepath.Join(c.runs, records[0]))
	if err != nil {
		c.t.Fatalf("runner's record: %v", err)
	}
	if !rec.Summary.Complete || rec.Summary.Verdict == results.VerdictHang || rec.Summary.OK == 0 {
		c.t.Errorf("runner's record %s: complete %v, verdict %q, %d OK: want a complete run of split with answers and no hang",
			records[0], rec.Summary.Complete, rec.Summary.Verdict, rec.Summary.OK)
	}
}

// down stops the project and checks that it left no container, network or volume.
func (c *compose) down() {
	c.t.Helper()
	start := time.Now()
	if _, err := c.compose(composeDownTimeout, "down", "--volumes", "--remove-orphans"); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("docker-compose down: %.1f s", time.Since(start).Seconds())
	label := "label=com.docker.compose.project=" + c.project
	for _, q := range [][]string{
		{"ps", "-a", "-q", "--filter", label},
		{"network", "ls", "-q", "--filter", label},
		{"network", "ls", "-q", "--filter", "name=" + c.project + "_"},
		{"volume", "ls", "-q", "--filter", label},
	} {
		out, err := exec.Command(c.docker, q...).CombinedOutput()
		if err != nil {
			c.t.Fatalf("docker %s: %v\n%s", strings.Join(q, " "), err, out)
		}
		if left := strings.TrimSpace(string(out)); left != "" {
			c.t.Errorf("after docker-compose down, docker %s lists:\n%s", strings.Join(q, " "), left)
		}
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func seconds(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f s", *p)
}
