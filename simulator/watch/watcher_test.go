//go:build linux

package watch

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/simdev/sim/simulator/sockets"
)

func newWatcher(t *testing.T, o Options) *Watcher {
	t.Helper()
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// waitCensus samples w until cond holds, and fails the test with the last census when it
// still does not after settleTimeout.
func waitCensus(t *testing.T, w *Watcher, cond func(Census) bool) Census {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		c, err := w.Sample(context.Background())
		if err != nil {
			t.Fatalf("sample: %v", err)
		}
		if cond(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("census never matched: %+v", c)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serverMatches reports whether c counts exactly want on the server side, every other state 0.
// (Only the server side is the test's own: the client side, remote port = port, may also hold
// another process's stale socket to an earlier listener of the same port number.)
func serverMatches(c Census, want map[string]int) bool {
	for _, name := range allStateNames() {
		if c.Server[name] != want[name] {
			return false
		}
	}
	return len(c.Server) == len(allStateNames())
}

func allStateNames() []string {
	var names []string
	for s := sockets.State(1); s < sockets.NumStates; s++ {
		if s != sockets.Listen {
			names = append(names, stateName(s))
		}
	}
	return names
}

// The census counts what the sockets sampler counts — a listener with CLOSE_WAIT sockets both
// accepted (an fd each) and still in the accept queue — and reads the accept queue and the
// owner (this test process, found from the listening socket) on top.
func TestCensusMatchesSampler(t *testing.T) {
	sc := scenario{open: 3, clientClosed: 5, queued: 2, queuedClosed: 4}
	port := sc.build(t)
	w := newWatcher(t, Options{Port: port})
	sampler := sockets.New()
	defer sampler.Close()
	// Compare census and sampler once the kernel has settled (a client's FIN_WAIT1 turns
	// FIN_WAIT2 when its FIN is acknowledged): both count every state alike, both sides.
	var direct sockets.Counts
	c := waitCensus(t, w, func(c Census) bool {
		var err error
		if direct, err = sampler.Sample(port); err != nil {
			t.Fatal(err)
		}
		return serverMatches(c, sc.server()) && c.Counts() == direct
	})
	if direct.Client[sockets.FinWait2] < sc.clientClosed+sc.queuedClosed {
		t.Errorf("client side %v lacks the closed clients", direct)
	}
	if c.Method != sampler.Method() {
		t.Errorf("method %q, sampler's %q", c.Method, sampler.Method())
	}
	wantLimit := testBacklog
	if c.Method == sockets.MethodProc {
		wantLimit = sockets.QueueMaxUnknown
	}
	if c.Listen != (Listen{Listening: true, QueueLength: sc.queued + sc.queuedClosed, QueueLimit: wantLimit}) {
		t.Errorf("listen %+v, want %d queued of %d", c.Listen, sc.queued+sc.queuedClosed, wantLimit)
	}
	if c.Port != port || c.Version != SchemaVersion {
		t.Errorf("port %d version %d, want %d and %d", c.Port, c.Version, port, SchemaVersion)
	}
	if d := time.Since(c.Time()); d < 0 || d > time.Minute {
		t.Errorf("sample time %v is %v from now", c.Time(), d)
	}
	if c.Duration() <= 0 || c.Duration() > 10*time.Second {
		t.Errorf("sample duration %v", c.Duration())
	}

	// The owner is this process: its fds include the listener and the accepted sockets.
	if c.Process == nil {
		t.Fatalf("no process: %s", c.ProcessError)
	}
	if c.Process.PID != os.Getpid() || c.Process.FoundBy != FoundByListener {
		t.Errorf("process %+v, want pid %d found by the listener", *c.Process, os.Getpid())
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if c.Process.MaxFDs != int(lim.Cur) {
		t.Errorf("max fds %d, RLIMIT_NOFILE is %d", c.Process.MaxFDs, lim.Cur)
	}
	held := 1 + sc.open + sc.clientClosed // listener and accepted sockets
	if c.Process.OpenFDs < held || c.Process.OpenFDs > int(lim.Cur) {
		t.Errorf("open fds %d, the test holds at least %d", c.Process.OpenFDs, held)
	}
}

// The fd count follows the process: sockets opened after the owner was found show up.
func TestCensusFollowsOpenFDs(t *testing.T) {
	_, port := listen(t)
	w := newWatcher(t, Options{Port: port, PID: os.Getpid()})
	before := waitCensus(t, w, func(c Census) bool { return c.Process != nil })
	if before.Process.FoundBy != FoundByFlag {
		t.Errorf("found by %q, want %q", before.Process.FoundBy, FoundByFlag)
	}
	const extra = 50
	for range extra {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	// Other goroutines of the test binary may open or close a few fds meanwhile.
	waitCensus(t, w, func(c Census) bool {
		return c.Process != nil && c.Process.OpenFDs >= before.Process.OpenFDs+extra-5
	})
}

// A process that is gone, and a port that nothing listens on, are said so in process_error;
// the socket census is still served.
func TestCensusWithoutProcess(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("skip: cannot run true: %v", err)
	}
	gone := cmd.Process.Pid
	_, port := listen(t)
	w := newWatcher(t, Options{Port: port, PID: gone})
	c := waitCensus(t, w, func(c Census) bool { return c.Listen.Listening })
	if _, err := os.Stat("/proc/" + strconv.Itoa(gone)); err == nil {
		t.Skipf("skip: pid %d was reused already", gone)
	}
	if c.Process != nil || !strings.Contains(c.ProcessError, "is gone") {
		t.Errorf("process %+v, error %q; want none, gone", c.Process, c.ProcessError)
	}

	ln, free := listen(t)
	ln.Close()
	w2 := newWatcher(t, Options{Port: free})
	c, err := w2.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.Listening || c.Process != nil || !strings.Contains(c.ProcessError, "nothing listens") {
		t.Errorf("unused port: listen %+v, process %+v, error %q", c.Listen, c.Process, c.ProcessError)
	}
}

// slowSampler counts a fixed census after a delay, or fails; it counts its calls.
type slowSampler struct {
	mu    sync.Mutex
	calls int
	delay time.Duration
	block chan struct{} // when set, Sample waits for it to be closed
	err   error
}

func (s *slowSampler) Sample(port uint16) (sockets.Counts, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if s.block != nil {
		<-s.block
	}
	time.Sleep(s.delay)
	var c sockets.Counts
	c.Server[sockets.CloseWait] = 7
	return c, s.err
}
func (s *slowSampler) Method() string { return "test" }
func (s *slowSampler) Close() error   { return nil }
func (s *slowSampler) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// A burst of callers shares samples: each gets one that started after it asked, and the
// sampler runs far fewer times than there are callers.
func TestSampleShared(t *testing.T) {
	s := &slowSampler{delay: 50 * time.Millisecond}
	w := newWatcher(t, Options{Port: 9, Sampler: s})
	const callers = 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			asked := time.Now()
			c, err := w.Sample(context.Background())
			if err != nil {
				errs <- err
				return
			}
			if c.Time().Before(asked.Add(-time.Millisecond)) {
				errs <- errors.New("got a sample older than the request")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.Calls(); n > callers/2 {
		t.Errorf("%d callers made %d samples, want them shared", callers, n)
	}
}

// A caller waiting behind a stuck sample gives up with its context.
func TestSampleWaitHonoursContext(t *testing.T) {
	s := &slowSampler{block: make(chan struct{})}
	w := newWatcher(t, Options{Port: 9, Sampler: s})
	first := make(chan error, 1)
	go func() { _, err := w.Sample(context.Background()); first <- err }()
	for s.Calls() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := w.Sample(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting sample: %v, want a deadline error", err)
	}
	close(s.block)
	if err := <-first; err != nil {
		t.Error(err)
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(Options{Port: 0}); err == nil {
		t.Error("New with port 0 succeeded")
	}
	if _, err := New(Options{Port: 80, PID: -1}); err == nil {
		t.Error("New with pid -1 succeeded")
	}
}
