// Package child starts and stops the processes sim owns (a `sim serve` under a run, the static
// server under `sim serve`, nginx). A child announces its listeners on stdout as lines
// "NAME URL"; Start waits for the names it needs. Every child is put in its own process group,
// is told by the kernel to die with its parent (PR_SET_PDEATHSIG), and Stop ends the group:
// SIGTERM, then SIGKILL after a grace period.
package child

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec says what to start.
type Spec struct {
	Name  string   // for messages: "sim serve", "nginx"
	Path  string   // executable
	Args  []string // without the program name
	Env   []string // added to the parent's environment
	Dir   string
	Ready []string // listener names to wait for on stdout, e.g. "app", "admin"
	// ReadyTimeout bounds the wait for Ready; default 10 s.
	ReadyTimeout time.Duration
	// Log receives the child's stdout lines after the ready lines, and all of stderr; may be nil.
	Log io.Writer
	// ReadyFunc, if set, is polled (every 20 ms) instead of reading Ready lines; it returns nil
	// once the child is ready. Used for programs that print nothing, such as nginx.
	ReadyFunc func(context.Context) error
	// DeathSignal is what the kernel sends the child when sim dies; default SIGKILL. nginx
	// wants SIGTERM: its master then takes its workers down with it, where a killed master
	// would leave a worker holding the port.
	DeathSignal syscall.Signal
}

// Process is a running child.
type Process struct {
	spec   Spec
	cmd    *exec.Cmd
	urls   map[string]string
	done   chan struct{}
	err    error // set before done is closed
	stopMu sync.Mutex
	tail   *tail
}

// Start runs the child and waits until it is ready. On any error the child is already stopped.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if spec.ReadyTimeout == 0 {
		spec.ReadyTimeout = 10 * time.Second
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	death := spec.DeathSignal
	if death == 0 {
		death = syscall.SIGKILL
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: death}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &Process{spec: spec, cmd: cmd, urls: map[string]string{}, done: make(chan struct{}), tail: &tail{}}
	var logw io.Writer = p.tail
	if spec.Log != nil {
		logw = io.MultiWriter(p.tail, spec.Log)
	}
	cmd.Stderr = logw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-p.done:
				return
			}
		}
	}()
	readyCtx, cancel := context.WithTimeout(ctx, spec.ReadyTimeout)
	defer cancel()
	err = p.waitReady(readyCtx, lines)
	// Keep draining stdout so the child never blocks on a full pipe.
	go func() {
		for l := range lines {
			fmt.Fprintln(logw, l)
		}
	}()
	if err != nil {
		p.Stop(2 * time.Second)
		return nil, err
	}
	return p, nil
}

func (p *Process) waitReady(ctx context.Context, lines <-chan string) error {
	if p.spec.ReadyFunc != nil {
		go func() { // stdout of such a child is just log
			for l := range lines {
				fmt.Fprintln(p.tail, l)
			}
		}()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := p.spec.ReadyFunc(ctx); err == nil {
				return nil
			}
			select {
			case <-p.done:
				return p.exitedErr()
			case <-ctx.Done():
				return p.notReadyErr(ctx)
			case <-tick.C:
			}
		}
	}
	need := map[string]bool{}
	for _, n := range p.spec.Ready {
		need[n] = true
	}
	for len(need) > 0 {
		select {
		case l, ok := <-lines:
			if !ok {
				<-p.done
				return p.exitedErr()
			}
			name, url, found := strings.Cut(l, " ")
			if found && need[name] {
				p.urls[name] = strings.TrimSpace(url)
				delete(need, name)
			} else {
				fmt.Fprintln(p.tail, l)
			}
		case <-p.done:
			return p.exitedErr()
		case <-ctx.Done():
			return p.notReadyErr(ctx)
		}
	}
	return nil
}

func (p *Process) exitedErr() error {
	return fmt.Errorf("%s exited before it was ready (%v): %s", p.spec.Name, p.err, p.tail.String())
}

func (p *Process) notReadyErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s not ready within %s: %s", p.spec.Name, p.spec.ReadyTimeout, p.tail.String())
	}
	return fmt.Errorf("start %s: %w", p.spec.Name, ctx.Err())
}

// URL returns the URL the child announced for a listener name.
func (p *Process) URL(name string) string { return p.urls[name] }

// PID is the child's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the child's exit error once Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Output returns the last few KB the child wrote on stderr (and stray stdout).
func (p *Process) Output() string { return p.tail.String() }

// Stop ends the child's process group: SIGTERM, then SIGKILL once grace has passed. It returns
// when the child has exited; calling it again is harmless.
func (p *Process) Stop(grace time.Duration) error {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	select {
	case <-p.done:
		killGroup(p.cmd.Process.Pid, syscall.SIGKILL) // grandchildren left behind, if any
		return nil
	default:
	}
	pid := p.cmd.Process.Pid
	killGroup(pid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		killGroup(pid, syscall.SIGKILL)
		return nil
	case <-timer.C:
	}
	killGroup(pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("%s did not stop within %s: killed", p.spec.Name, grace)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.spec.Name, pid)
	}
}

func killGroup(pid int, sig syscall.Signal) {
	// The child leads its own group (Setpgid), so -pid reaches its children too.
	_ = syscall.Kill(-pid, sig)
}

// tail keeps the last 4 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4096

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
