package child

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitTimeout bounds every wait for a condition: generous, for a loaded CI machine.
const waitTimeout = 10 * time.Second

// spec runs this test binary as a child in the given helper mode.
func spec(t *testing.T, mode string) Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Name: "helper " + mode, Path: exe, Env: []string{helperEnv + "=" + mode}, Ready: []string{"app"}}
}

// start starts s and stops the child when the test ends.
func start(t *testing.T, s Spec) *Process {
	t.Helper()
	p, err := Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(0) })
	return p
}

// gone reports whether pid has exited: no such process, or a zombie nobody has reaped yet (a
// grandchild whose parent died belongs to init, which may be slow to reap in a container).
func gone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// "PID (comm) STATE ...": the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !gone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("%s (pid %d) still running after %s", what, pid, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isDone(p *Process) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// syncBuffer is a bytes.Buffer safe for the child's copying goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start returns once the child has announced every listener asked for; Stop ends a child that
// heeds SIGTERM within the grace period, without killing it.
func TestStartAndStop(t *testing.T) {
	log := &syncBuffer{}
	s := spec(t, "ready")
	s.Ready = []string{"app", "admin"}
	s.Log = log
	p := start(t, s)
	if got := p.URL("app"); got != "http://127.0.0.1:1" {
		t.Errorf("URL(app) = %q", got)
	}
	if got := p.URL("admin"); got != "http://127.0.0.1:2" {
		t.Errorf("URL(admin) = %q", got)
	}
	if isDone(p) || gone(p.PID()) {
		t.Fatal("the child is not running after Start")
	}
	// What comes after the ready lines, on either stream, goes to the log.
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(log.String(), "after ready") || !strings.Contains(log.String(), "on stderr") {
		if time.Now().After(deadline) {
			t.Fatalf("log %q lacks the lines written after the ready ones", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	const grace = 5 * time.Second
	begin := time.Now()
	if err := p.Stop(grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(begin); d >= grace {
		t.Errorf("Stop took %s: the child was killed, not stopped by SIGTERM", d)
	}
	if !isDone(p) {
		t.Fatal("Done not closed after Stop")
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err = %v, want a clean exit on SIGTERM", err)
	}
	if err := p.Stop(grace); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// A child that ignores SIGTERM is killed once the grace period has passed, and Stop says so.
func TestStopKillsAfterGrace(t *testing.T) {
	p := start(t, spec(t, "stubborn"))
	const grace = 300 * time.Millisecond
	begin := time.Now()
	err := p.Stop(grace)
	if err == nil || !strings.Contains(err.Error(), "did not stop within 300ms: killed") {
		t.Fatalf("Stop = %v, want it to say the child was killed after the grace", err)
	}
	if d := time.Since(begin); d < grace {
		t.Errorf("killed after %s, before the %s grace", d, grace)
	}
	if !isDone(p) {
		t.Fatal("Done not closed after Stop")
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Err = %v, want killed", err)
	}
	waitGone(t, p.PID(), "the stubborn child")
}

// Stop ends the child's whole process group: a grandchild that ignores SIGTERM and outlives its
// parent is killed too.
func TestStopKillsProcessGroup(t *testing.T) {
	p := start(t, spec(t, "group"))
	gpid, err := strconv.Atoi(p.URL("app"))
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", p.URL("app"), err)
	}
	t.Cleanup(func() { _ = syscall.Kill(gpid, syscall.SIGKILL) })
	if gone(gpid) {
		t.Fatal("the grandchild is not running")
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitGone(t, gpid, "the grandchild")
}

// A child that exits before it is ready is reported with what it said on stderr.
func TestExitBeforeReady(t *testing.T) {
	_, err := Start(context.Background(), spec(t, "early"))
	if err == nil {
		t.Fatal("Start succeeded although the child exited")
	}
	for _, want := range []string{"helper early exited before it was ready", "exit status 3", "boom: address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// A child that never announces itself is stopped after ReadyTimeout, and the error says so.
func TestNotReadyInTime(t *testing.T) {
	s := spec(t, "silent")
	s.ReadyTimeout = 300 * time.Millisecond
	begin := time.Now()
	_, err := Start(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "helper silent not ready within 300ms") {
		t.Fatalf("Start = %v, want not ready within 300ms", err)
	}
	if d := time.Since(begin); d > waitTimeout {
		t.Errorf("Start gave up after %s", d)
	}
}

// Cancelling the context while a child starts stops the child and returns the cancellation.
func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := Start(ctx, spec(t, "silent"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, want context.Canceled", err)
	}
}

// A child that exits after it was ready closes Done, and Err has its exit status.
func TestExitAfterReady(t *testing.T) {
	p := start(t, spec(t, "exits"))
	select {
	case <-p.Done():
	case <-time.After(waitTimeout):
		t.Fatal("Done not closed after the child exited")
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "exit status 4") {
		t.Errorf("Err = %v, want exit status 4", err)
	}
}

// A child dies with the process that started it (PR_SET_PDEATHSIG), even one that ignores
// SIGTERM: a sim killed with SIGKILL leaves no server behind.
func TestChildDiesWithParent(t *testing.T) {
	owner := start(t, spec(t, "owner"))
	gpid, err := strconv.Atoi(owner.URL("app"))
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", owner.URL("app"), err)
	}
	t.Cleanup(func() { _ = syscall.Kill(gpid, syscall.SIGKILL) })
	if gone(gpid) {
		t.Fatal("the owner's child is not running")
	}
	// Only the owner: its child leads a process group of its own.
	if err := syscall.Kill(owner.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, gpid, "the child of a killed owner")
}
