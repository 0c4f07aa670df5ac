package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/results"
)

// faultProfile is the short profile of the fault matrix: 4 workers x 100 ms deadlock (self) or
// saturate (split) within the 6 s ramp, and the whole run lasts about 8 s.
const faultProfile = `description: fault matrix, about 8 s
stages:
  - {duration: 6s, from: 10, target: 60}
client: {timeout: 1s}
recovery: {duration: 2s, interval: 250ms, timeout: 500ms}
detect: {hang_hold: 1500ms}
server: {max_threads: 4, work_time: 100ms}
`

// faultRunLength bounds a fault-matrix run from start to exit: 8 s of load and probes, the
// children's start and stop, and slack for a loaded CI machine.
const faultRunLength = 30 * time.Second

// faultStopWithin is how soon after a signal or a dead child the run must have ended: vegeta's
// requests in flight drain within the client timeout (1 s) and sim serve stops within its grace.
const faultStopWithin = 10 * time.Second

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// faultRNG returns the random source of the signal moments: seeded from the clock unless
// SIM_FAULT_SEED replays a logged run.
func faultRNG(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SIM_FAULT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SIM_FAULT_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("signal moments seeded with %d (SIM_FAULT_SEED=%d replays them)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// randomMoment draws a moment in [lo, hi).
func randomMoment(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// simProc is a sim command a test started; it is killed when the test ends, if still running.
type simProc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	start          time.Time
	done           chan struct{}
	code           int
}

// syncBuffer is a bytes.Buffer that the process writes while the test reads.
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

// startSim starts sim with args; wrap, if set, is a command line that runs sim (its path and
// args follow it), such as the one hideNginx returns.
func startSim(t *testing.T, wrap, env []string, args ...string) *simProc {
	t.Helper()
	argv := append(append(append([]string(nil), wrap...), simBin), args...)
	p := &simProc{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns sim's exit code, failing the test if sim runs longer than limit.
func (p *simProc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit - time.Since(p.start)):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("sim did not end within %s; stderr:\n%s", limit, p.stderr.String())
	}
	t.Logf("sim %s: exit %d after %s", strings.Join(p.args(), " "), p.code, time.Since(p.start).Round(10*time.Millisecond))
	return p.code
}

// args are sim's own arguments, without a wrapper.
func (p *simProc) args() []string {
	for i, a := range p.cmd.Args {
		if a == simBin {
			return p.cmd.Args[i+1:]
		}
	}
	return nil
}

func (p *simProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Logf("signal %v: %v (sim had ended)", sig, err)
	}
}

// waitForFile polls until path exists and pred accepts its content.
func waitForFile(t *testing.T, p *simProc, pattern string, pred func([]byte) bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if files, _ := filepath.Glob(pattern); len(files) == 1 {
			if data, err := os.ReadFile(files[0]); err == nil && pred(data) {
				return files[0]
			}
		}
		select {
		case <-p.done:
			t.Fatalf("sim ended (exit %d) before %s was ready: %s", p.code, pattern, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 20 s: %s", pattern, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// aftermath is what a fault left behind, checked by checkAftermath.
type aftermath struct {
	code    int
	stderr  string
	records []*results.Record
}

// checkAftermath asserts what every ending must leave, however it came: no sim process and no
// LISTEN socket on the run's ports; every folder under out a record (complete, or marked
// incomplete with the reason) or a folder of records, each rendered by `sim report` with exit
// 0 -- or, when nothing could be written, no folder at all.
func checkAftermath(t *testing.T, out string, code int, stderr string) aftermath {
	t.Helper()
	// The static server dies with sim serve by PR_SET_PDEATHSIG, which the kernel delivers
	// asynchronously: give it a moment.
	deadline := time.Now().Add(3 * time.Second)
	for len(simProcesses(t)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if pids := simProcesses(t); len(pids) > 0 {
		t.Errorf("sim processes left: %v", pids)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	a := aftermath{code: code, stderr: stderr}
	var dirs []string
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		dir := filepath.Join(out, e.Name())
		if !e.IsDir() {
			t.Errorf("stray file in the out folder: %s", dir)
			continue
		}
		if fileExists(filepath.Join(dir, results.SummaryFile)) {
			dirs = append(dirs, dir)
			continue
		}
		// A comparison folder (sim reproduce): records in subfolders.
		subs, _ := filepath.Glob(filepath.Join(dir, "*", results.SummaryFile))
		if len(subs) == 0 {
			left, _ := os.ReadDir(dir)
			t.Errorf("half-written record folder %s (no %s anywhere): %v", dir, results.SummaryFile, names(left))
			continue
		}
		for _, s := range subs {
			dirs = append(dirs, filepath.Dir(s))
		}
		reportOK(t, dir)
	}
	for _, dir := range dirs {
		rec, err := results.Read(dir)
		if err != nil {
			t.Errorf("record %s unreadable: %v", dir, err)
			continue
		}
		a.records = append(a.records, rec)
		s := rec.Summary
		if code == 0 && !s.Complete {
			t.Errorf("exit 0 but %s is incomplete: %s", dir, s.InterruptedReason)
		}
		if !s.Complete && (s.Verdict != results.VerdictIncomplete || s.InterruptedReason == "") {
			t.Errorf("incomplete record %s: verdict %q, reason %q: want verdict incomplete and a reason", dir, s.Verdict, s.InterruptedReason)
		}
		if fileExists(filepath.Join(dir, ".summary-reserve")) {
			t.Errorf("%s kept the summary reserve after sim ended", dir)
		}
		for _, u := range []string{s.AppURL, s.AdminURL, s.StaticURL} {
			if u != "" && listening(port(u)) {
				t.Errorf("%s still has a LISTEN socket (record %s)", u, dir)
			}
		}
		reportOK(t, dir)
	}
	if code == 3 && len(a.records) > 0 {
		incomplete := 0
		for _, r := range a.records {
			if !r.Summary.Complete {
				incomplete++
			}
		}
		if incomplete == 0 {
			t.Errorf("exit 3 but every record says complete")
		}
	}
	return a
}

// reportOK runs `sim report` on dir into a fresh folder (dir itself may be on a full disk).
func reportOK(t *testing.T, dir string) {
	t.Helper()
	code, _, stderr := simRun(t, nil, "report", "--out", t.TempDir(), dir)
	if code != 0 {
		t.Errorf("sim report %s: exit %d: %s", dir, code, stderr)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func names(entries []os.DirEntry) []string {
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}

// mustContain fails unless s holds every one of want.
func mustContain(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

// mountTmpfs mounts a tmpfs of size at a fresh folder and unmounts it when the test ends; it
// skips the test where mounting is not permitted.
func mountTmpfs(t *testing.T, size string, readOnly bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var flags uintptr
	if readOnly {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, "size="+size); err != nil {
		t.Skipf("mount a %s tmpfs: %v (needs root or CAP_SYS_ADMIN)", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillTmpfs leaves about free bytes on the tmpfs at dir.
func fillTmpfs(t *testing.T, dir string, free int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * st.Bsize
	if avail <= free {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, avail-free), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hideNginx returns a command line that runs a program with no nginx to find: a PATH without
// it, and in a private mount namespace /dev/null over the fallback /usr/sbin/nginx (the host's
// file is untouched). It skips the test where that cannot be done.
func hideNginx(t *testing.T) (wrap, env []string) {
	t.Helper()
	var path []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if !fileExists(filepath.Join(d, "nginx")) {
			path = append(path, d)
		}
	}
	env = []string{"PATH=" + strings.Join(path, string(os.PathListSeparator))}
	const fallback = "/usr/sbin/nginx"
	if !fileExists(fallback) {
		return nil, env
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("nginx is installed and unshare(1) is missing: cannot hide nginx from sim")
	}
	wrap = []string{unshare, "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind /dev/null ` + fallback + ` && exec "$0" "$@"`}
	probe := exec.Command(wrap[0], append(wrap[1:], "test", "!", "-f", fallback)...)
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("cannot hide %s in a mount namespace (needs root): %v %s", fallback, err, out)
	}
	t.Cleanup(func() {
		if fi, err := os.Stat(fallback); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("the host's %s changed: %v", fallback, err)
		}
	})
	return wrap, env
}

// The fault matrix of `sim run`: every way a run can end, on both topologies.
func TestRunFaults(t *testing.T) {
	testtier.Long(t) // about a minute of short runs
	rng := faultRNG(t)
	profile := writeFile(t, t.TempDir(), "fault.yaml", faultProfile)
	for _, topology := range []string{"self", "split"} {
		t.Run(topology+"/normal end", func(t *testing.T) {
			out := t.TempDir()
			p := startSim(t, nil, nil, "run", "--topology", topology, "--profile", profile, "--out", out)
			code := p.wait(t, faultRunLength)
			a := checkAftermath(t, out, code, p.stderr.String())
			if code != 0 || len(a.records) != 1 || !a.records[0].Summary.Complete {
				t.Fatalf("exit %d, %d records; want exit 0 and one complete record: %s", code, len(a.records), p.stderr.String())
			}
			mustContain(t, "stdout", p.stdout.String(), "sim run: topology "+topology, "record")
		})
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(topology+"/"+sigName(sig), func(t *testing.T) {
				out := t.TempDir()
				at := randomMoment(rng, 100*time.Millisecond, 9*time.Second)
				t.Logf("%s at %s", sigName(sig), at)
				p := startSim(t, nil, nil, "run", "--topology", topology, "--profile", profile, "--out", out)
				time.Sleep(at)
				sent := time.Now()
				p.signal(t, sig)
				code := p.wait(t, faultRunLength)
				if d := time.Since(sent); d > faultStopWithin {
					t.Errorf("sim ran on for %s after %s", d, sigName(sig))
				}
				a := checkAftermath(t, out, code, p.stderr.String())
				switch {
				case code == 0 && len(a.records) == 1:
					t.Logf("the run had finished before the signal")
				case code == 3 && len(a.records) == 1:
					mustContain(t, "message", a.stderr, "interrupted", "record kept, marked incomplete", a.records[0].Dir)
					mustContain(t, "reason", a.records[0].Summary.InterruptedReason, "interrupted")
				default:
					t.Fatalf("exit %d with %d records; want exit 3 and an incomplete record: %s", code, len(a.records), a.stderr)
				}
			})
		}
		t.Run(topology+"/sim serve killed", func(t *testing.T) {
			out := t.TempDir()
			p := startSim(t, nil, nil, "run", "--topology", topology, "--profile", profile, "--out", out)
			var s results.Summary
			waitForFile(t, p, filepath.Join(out, "*", results.SummaryFile), func(b []byte) bool {
				return json.Unmarshal(b, &s) == nil && s.ServePID != 0
			})
			// Mid-run: once the load is on (a few timeline rows), at a random point of it.
			waitForFile(t, p, filepath.Join(out, "*", results.TimelineFile), func(b []byte) bool {
				return bytes.Count(b, []byte("\n")) > 4
			})
			extra := randomMoment(rng, 0, 3*time.Second)
			t.Logf("SIGKILL to sim serve (pid %d) %s into the load", s.ServePID, time.Second+extra)
			time.Sleep(extra)
			sent := time.Now()
			if err := syscall.Kill(s.ServePID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			code := p.wait(t, faultRunLength)
			if d := time.Since(sent); d > faultStopWithin {
				t.Errorf("sim ran on for %s after its server died", d)
			}
			a := checkAftermath(t, out, code, p.stderr.String())
			if code != 3 || len(a.records) != 1 {
				t.Fatalf("exit %d, %d records; want exit 3 and one record: %s", code, len(a.records), a.stderr)
			}
			mustContain(t, "message", a.stderr, "sim serve exited", "record kept, marked incomplete")
			mustContain(t, "reason", a.records[0].Summary.InterruptedReason, "sim serve exited")
		})
	}

	t.Run("split/nginx missing", func(t *testing.T) {
		wrap, env := hideNginx(t)
		dir := t.TempDir()
		nginxProfile := writeFile(t, dir, "nginx.yaml", strings.Replace(faultProfile,
			"work_time: 100ms}", "work_time: 100ms, static: {server: nginx}}", 1))
		out := filepath.Join(dir, "runs")
		p := startSim(t, wrap, env, "run", "--topology", "split", "--profile", nginxProfile, "--out", out)
		code := p.wait(t, 10*time.Second)
		a := checkAftermath(t, out, code, p.stderr.String())
		if code != 3 || len(a.records) != 0 {
			t.Fatalf("exit %d, %d records; want exit 3 before anything ran: %s", code, len(a.records), a.stderr)
		}
		mustContain(t, "message", a.stderr, "nginx not found", "apt-get install nginx")
		if fileExists(out) {
			t.Errorf("a run that could not start made %s", out)
		}
	})

	t.Run("out folder unwritable", func(t *testing.T) {
		// Root ignores permission bits: a path under a regular file, and a read-only tmpfs.
		file := writeFile(t, t.TempDir(), "a-file", "")
		for name, out := range map[string]func(*testing.T) string{
			"under a file": func(*testing.T) string { return filepath.Join(file, "runs") },
			"read-only fs": func(t *testing.T) string { return filepath.Join(mountTmpfs(t, "64k", true), "runs") },
		} {
			t.Run(name, func(t *testing.T) {
				out := out(t)
				p := startSim(t, nil, nil, "run", "--topology", "self", "--profile", profile, "--out", out)
				code := p.wait(t, 10*time.Second)
				a := checkAftermath(t, filepath.Dir(out), code, p.stderr.String())
				if code != 3 || len(a.records) != 0 {
					t.Fatalf("exit %d, %d records; want exit 3 and no record: %s", code, len(a.records), a.stderr)
				}
				mustContain(t, "message", a.stderr, "create record", out)
			})
		}
	})

	t.Run("disk full", func(t *testing.T) {
		t.Run("mid-run", func(t *testing.T) {
			fs := mountTmpfs(t, "200k", false)
			// Room for the record's start (config, summary, reserve: ~24 KiB) and a few
			// seconds of results, not for the whole run.
			fillTmpfs(t, fs, 48<<10)
			out := filepath.Join(fs, "runs")
			p := startSim(t, nil, nil, "run", "--topology", "self", "--profile", profile, "--out", out)
			code := p.wait(t, faultRunLength)
			a := checkAftermath(t, out, code, p.stderr.String())
			if code != 3 || len(a.records) != 1 {
				t.Fatalf("exit %d, %d records; want exit 3 and an incomplete record: %s", code, len(a.records), a.stderr)
			}
			rec := a.records[0]
			mustContain(t, "message", a.stderr, "no space left on device", rec.Dir, "record kept, marked incomplete")
			mustContain(t, "reason", rec.Summary.InterruptedReason, "no space left on device", rec.Dir)
			// results.bin is cut back to whole results: vegeta reads it to the end.
			n := 0
			if err := results.ReadResults(rec.Dir, func(*vegeta.Result) error { n++; return nil }); err != nil {
				t.Errorf("results.bin after a full disk: %v", err)
			}
			if n == 0 || n > rec.Summary.Requests {
				t.Errorf("results.bin holds %d results, summary %d requests", n, rec.Summary.Requests)
			}
		})
		t.Run("at start", func(t *testing.T) {
			fs := mountTmpfs(t, "200k", false)
			fillTmpfs(t, fs, 8<<10)
			out := filepath.Join(fs, "runs")
			p := startSim(t, nil, nil, "run", "--topology", "self", "--profile", profile, "--out", out)
			code := p.wait(t, 10*time.Second)
			a := checkAftermath(t, out, code, p.stderr.String())
			if code != 3 || len(a.records) != 0 {
				t.Fatalf("exit %d, %d records; want exit 3 and no record: %s", code, len(a.records), a.stderr)
			}
			mustContain(t, "message", a.stderr, "no space left on device", out)
		})
	})
}

func sigName(sig syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig]
}

// A port that is taken: sim serve says which and exits 3, leaving nothing running.
func TestServePortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	tests := []struct {
		name string
		args []string
	}{
		{"app", []string{"--addr", taken}},
		{"admin", []string{"--admin-addr", taken}},
		{"static of split", []string{"--topology", "split", "--static-addr", taken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startSim(t, nil, nil, append([]string{"serve"}, tt.args...)...)
			code := p.wait(t, 10*time.Second)
			if code != 3 {
				t.Errorf("exit %d, want 3", code)
			}
			mustContain(t, "message", p.stderr.String(), taken, "address already in use")
			if out := p.stdout.String(); out != "" {
				t.Errorf("announced listeners although it failed: %q", out)
			}
			checkAftermath(t, t.TempDir(), code, p.stderr.String())
			if !listening(port("http://" + taken)) {
				t.Errorf("the test's own listener on %s is gone", taken)
			}
		})
	}
}

// The fault matrix of `sim reproduce --quick`: nginx missing, and an interrupt.
func TestReproduceFaults(t *testing.T) {
	testtier.Long(t) // an interrupted sim reproduce --quick
	wrap, env := hideNginx(t)
	t.Run("nginx missing", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "runs")
		p := startSim(t, wrap, env, "reproduce", "--quick", "--out", out)
		code := p.wait(t, 10*time.Second)
		a := checkAftermath(t, out, code, p.stderr.String())
		if code != 3 || len(a.records) != 0 {
			t.Fatalf("exit %d, %d records; want exit 3 before anything ran: %s", code, len(a.records), a.stderr)
		}
		mustContain(t, "message", a.stderr, "nginx not found", "apt-get install nginx", "--static embedded")
		if fileExists(out) {
			t.Errorf("a reproduce that could not start made %s", out)
		}
	})
	// --static embedded needs no nginx: it starts without one and is then interrupted.
	t.Run("SIGINT, embedded static server", func(t *testing.T) {
		rng := faultRNG(t)
		at := randomMoment(rng, 100*time.Millisecond, 15*time.Second)
		t.Logf("SIGINT at %s", at)
		out := t.TempDir()
		p := startSim(t, wrap, env, "reproduce", "--quick", "--static", "embedded", "--out", out)
		time.Sleep(at)
		sent := time.Now()
		p.signal(t, syscall.SIGINT)
		code := p.wait(t, time.Minute)
		if d := time.Since(sent); d > faultStopWithin {
			t.Errorf("sim reproduce ran on for %s after SIGINT", d)
		}
		a := checkAftermath(t, out, code, p.stderr.String())
		if code != 3 || len(a.records) == 0 {
			t.Fatalf("exit %d, %d records; want exit 3 and the records so far: %s", code, len(a.records), a.stderr)
		}
		mustContain(t, "message", a.stderr, "interrupted", "record kept, marked incomplete")
		if strings.Contains(a.stderr, "nginx not found") {
			t.Errorf("--static embedded looked for nginx: %s", a.stderr)
		}
	})
}
