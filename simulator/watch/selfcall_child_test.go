//go:build linux

package watch

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/static"
)

// The apps of the self-call tests, run as children of the test binary (TestMain):
//
//	app:TOPOLOGY  sim's app (simulator/app) with 2 workers and childWorkTime; split's static
//	              server runs in the same process on a port of its own
//	prefork:N     a pre-fork server: a master that opens the listener and forks N sync worker
//	              processes sharing it, each serving one connection at a time (gunicorn's sync
//	              worker); GET /page calls GET /static on the same port, with no timeout
//	worker        one worker of prefork (the listener is fd 3); with childCallEnv set, its
//	              self-call goes to that address instead of its own (a front proxy's)
//	proxy         a TCP proxy in front of an app (nginx in front of PHP-FPM): each connection
//	              is passed to the address read from the file named by childBackendEnv
//	netns:N       run inside a network namespace of its own (the test wraps it in unshare):
//	              bring loopback up, start prefork:N, hang its N workers with N pages, and
//	              print, as its "url" line, the census a Watcher in the namespace took
//
// Each prints "url http://127.0.0.1:PORT" once it listens, and runs until SIGTERM or until its
// stdin closes (the test ended without stopping it: it must not outlive it).

// childEnv names the child's role.
const childEnv = "SIM_WATCH_TEST_CHILD"

// childCallEnv, when set, is where a prefork worker sends its self-call (host:port), and
// childBackendEnv names the file holding the proxy's backend address.
const (
	childCallEnv    = "SIM_WATCH_TEST_CALL"
	childBackendEnv = "SIM_WATCH_TEST_BACKEND_FILE"
)

// childWorkTime is the test apps' work per page: long enough that pages sent at once all
// take a worker before the first of them calls itself.
const childWorkTime = 100 * time.Millisecond

// childCallTimeout bounds a prefork worker's self-call, so that a child the test forgot cannot
// hang forever; far beyond any test's wait.
const childCallTimeout = 2 * time.Minute

func runChild(role string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { // the parent's end of stdin closes when the parent dies
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	name, arg, _ := strings.Cut(role, ":")
	var err error
	switch name {
	case "app":
		err = childApp(ctx, arg)
	case "prefork":
		n, _ := strconv.Atoi(arg)
		err = childPrefork(ctx, n)
	case "worker":
		err = childWorker(ctx)
	case "netns":
		n, _ := strconv.Atoi(arg)
		err = childNetns(ctx, n)
	case "proxy":
		err = childProxy(ctx)
	default:
		err = fmt.Errorf("unknown child role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// inProcessStatic is split's static server inside the app's process.
type inProcessStatic struct {
	srv *http.Server
	url string
}

func (s *inProcessStatic) URL() string          { return s.url }
func (s *inProcessStatic) Stop() error          { return s.srv.Close() }
func (s *inProcessStatic) serve(l net.Listener) { _ = s.srv.Serve(l) }

func childApp(ctx context.Context, topo string) error {
	cfg := app.Defaults()
	cfg.Topology = topo
	cfg.Addr = "127.0.0.1:0"
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.MaxThreads = childWorkers
	cfg.WorkTime = childWorkTime
	startStatic := func(ctx context.Context, addr string) (static.Server, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		s := &inProcessStatic{srv: &http.Server{Handler: static.Handler()}, url: "http://" + l.Addr().String()}
		go s.serve(l)
		return s, nil
	}
	a, err := app.Start(ctx, cfg, startStatic)
	if err != nil {
		return err
	}
	fmt.Printf("url %s\n", a.URL())
	<-ctx.Done()
	done := make(chan error, 1)
	go func() { done <- a.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(3 * time.Second): // a hung self topology: the process exits anyway
		return nil
	}
}

func childPrefork(ctx context.Context, n int) error {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		return err
	}
	var workers []*exec.Cmd
	defer func() {
		for _, w := range workers {
			_ = w.Process.Signal(syscall.SIGTERM)
			_ = w.Wait()
		}
	}()
	for range n {
		w := exec.Command(os.Args[0])
		w.Env = append(os.Environ(), childEnv+"=worker")
		w.ExtraFiles = []*os.File{f}
		w.Stderr = os.Stderr
		stdin, err := w.StdinPipe() // closes when the master dies
		if err != nil {
			return err
		}
		defer stdin.Close()
		if err := w.Start(); err != nil {
			return err
		}
		workers = append(workers, w)
	}
	fmt.Printf("url http://%s\n", l.Addr())
	<-ctx.Done()
	return nil
}

func childWorker(ctx context.Context) error {
	l, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return err
	}
	// A worker stuck in a self-call must still go when told: exit at once, as a killed worker
	// would, instead of waiting for childCallTimeout.
	go func() { <-ctx.Done(); os.Exit(0) }()
	addr := l.Addr().String()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		serveOne(c, addr)
	}
}

// serveOne answers one request on c and closes it: /page after a self-call to /static.
func serveOne(c net.Conn, addr string) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(childCallTimeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	if strings.HasPrefix(line, "GET /page") {
		// The page's own work comes first, as in sim's app: pages sent at once all hold a
		// worker before the first self-call is made, so the test's hang does not depend on
		// how the kernel interleaves them.
		time.Sleep(childWorkTime)
		to := addr
		if a := os.Getenv(childCallEnv); a != "" {
			to = a
		}
		sc, err := net.DialTimeout("tcp", to, childCallTimeout)
		if err != nil {
			return
		}
		sc.SetDeadline(time.Now().Add(childCallTimeout))
		fmt.Fprintf(sc, "GET /static HTTP/1.0\r\nHost: %s\r\n\r\n", addr)
		_, _ = io.Copy(io.Discard, sc)
		sc.Close()
	}
	fmt.Fprint(c, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
}

// childProxy passes each connection to the backend named in childBackendEnv's file, byte for
// byte both ways, as nginx passes a request to PHP-FPM: the front's process holds the
// client's connection and its own to the backend.
func childProxy(ctx context.Context) error {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); l.Close() }()
	fmt.Printf("url http://%s\n", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			b, err := os.ReadFile(os.Getenv(childBackendEnv))
			if err != nil {
				return
			}
			up, err := net.DialTimeout("tcp", strings.TrimSpace(string(b)), childCallTimeout)
			if err != nil {
				return
			}
			defer up.Close()
			go func() { _, _ = io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
			_, _ = io.Copy(c, up)
		}()
	}
}

// child is a running test app.
type child struct {
	cmd  *exec.Cmd
	url  string
	port uint16
}

// startChild starts the test binary as role and waits for its URL; the child is stopped when
// the test ends (SIGTERM, then SIGKILL after a grace period).
func startChild(t *testing.T, role string, wrap ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("own executable: %v", err)
	}
	args := append(append([]string(nil), wrap...), exe)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child %s: %v", role, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "url "); ok {
				lines <- u
			}
		}
		close(lines)
	}()
	select {
	case u, ok := <-lines:
		if !ok {
			t.Fatalf("child %s exited before listening", role)
		}
		_, p, _ := net.SplitHostPort(strings.TrimPrefix(u, "http://"))
		n, _ := strconv.Atoi(p)
		return &child{cmd: cmd, url: u, port: uint16(n)}
	case <-time.After(30 * time.Second):
		t.Fatalf("child %s did not listen within 30s", role)
	}
	return nil
}

func childNetns(ctx context.Context, n int) error {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set lo up: %v: %s", err, out)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	app := exec.Command(exe)
	app.Env = append(os.Environ(), childEnv+"=prefork:"+strconv.Itoa(n))
	app.Stderr = os.Stderr
	stdin, err := app.StdinPipe()
	if err != nil {
		return err
	}
	defer stdin.Close()
	out, err := app.StdoutPipe()
	if err != nil {
		return err
	}
	if err := app.Start(); err != nil {
		return err
	}
	defer func() { _ = app.Process.Signal(syscall.SIGTERM); _ = app.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("prefork child: %w", err)
	}
	u := strings.TrimSpace(strings.TrimPrefix(line, "url "))
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(u, "http://"))
	port, _ := strconv.Atoi(p)
	for range n {
		go func() {
			c := &http.Client{Timeout: childCallTimeout}
			if resp, err := c.Get(u + "/page"); err == nil {
				resp.Body.Close()
			}
		}()
	}
	w, err := New(Options{Port: uint16(port)})
	if err != nil {
		return err
	}
	defer w.Close()
	deadline := time.Now().Add(20 * time.Second)
	var c Census
	for time.Now().Before(deadline) {
		if c, err = w.Sample(ctx); err != nil {
			return err
		}
		if c.SelfCall != nil && c.SelfCall.Waiting >= n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	fmt.Printf("url %s\n", b)
	<-ctx.Done()
	return nil
}
