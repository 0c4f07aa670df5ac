package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/results"
)

// simProcesses lists the pids of running processes started from this test's sim binary
// (sim serve, sim static): after a run, there must be none.
func simProcesses(t *testing.T) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != simBin {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue // a zombie holds no socket; PID 1 here may not reap it
		}
		pids = append(pids, pid)
	}
	return pids
}

// nothingLeftWithin is how long assertNothingLeft waits for the children to be gone: the static
// server dies with sim serve by PR_SET_PDEATHSIG, which the kernel delivers asynchronously, and
// a loaded machine may take a moment to schedule its exit.
const nothingLeftWithin = 5 * time.Second

// assertNothingLeft checks that no sim child survives the run and that its ports are free,
// waiting up to nothingLeftWithin for that.
func assertNothingLeft(t *testing.T, s results.Summary) {
	t.Helper()
	if s.ServePID == 0 {
		t.Error("summary has no serve_pid")
	}
	left := func() []string {
		var problems []string
		if pids := simProcesses(t); len(pids) > 0 {
			problems = append(problems, fmt.Sprintf("sim processes left after the run: %v", pids))
		}
		for _, u := range []string{s.AppURL, s.AdminURL, s.StaticURL} {
			if u != "" && listening(port(u)) {
				problems = append(problems, fmt.Sprintf("%s still has a LISTEN socket after the run", u))
			}
		}
		if s.ServePID != 0 && syscall.Kill(s.ServePID, 0) == nil {
			if st, _ := os.ReadFile("/proc/" + strconv.Itoa(s.ServePID) + "/stat"); !bytes.Contains(st, []byte(") Z")) {
				problems = append(problems, fmt.Sprintf("sim serve (pid %d) is still running", s.ServePID))
			}
		}
		return problems
	}
	deadline := time.Now().Add(nothingLeftWithin)
	problems := left()
	for len(problems) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		problems = left()
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// runRecord runs `sim run` and returns the exit code, the record and stdout.
func runRecord(t *testing.T, args ...string) (int, *results.Record, string) {
	t.Helper()
	out := t.TempDir()
	start := time.Now()
	code, stdout, stderr := simRun(t, nil, append([]string{"run", "--out", out, "--json"}, args...)...)
	t.Logf("sim run %v: exit %d in %s", args, code, time.Since(start).Round(time.Second))
	dirs, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(dirs) != 1 {
		t.Fatalf("want one run record in %s, found %v; stderr: %s", out, dirs, stderr)
	}
	rec, err := results.Read(dirs[0])
	if err != nil {
		t.Fatalf("read record: %v", err)
	}
	return code, rec, stdout
}

// The main job on real sockets: the quick profile hangs self, and split survives it.
func TestRunQuick(t *testing.T) {
	testtier.Long(t) // runs two 30 s load tests
	tests := []struct {
		topology  string
		hang      bool
		recovered bool
	}{
		{"self", true, false},
		{"split", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.topology, func(t *testing.T) {
			start := time.Now()
			code, rec, stdout := runRecord(t, "--topology", tt.topology, "--profile", "quick")
			if d := time.Since(start); d > 60*time.Second {
				t.Errorf("run took %s, want under 60 s", d)
			}
			if code != 0 {
				t.Fatalf("exit %d: %+v", code, rec.Summary)
			}
			s := rec.Summary
			var printed results.Summary
			if err := json.Unmarshal([]byte(stdout), &printed); err != nil || printed.Verdict != s.Verdict {
				t.Errorf("--json printed %q (err %v), want the summary", stdout, err)
			}
			if !s.Complete {
				t.Fatalf("record incomplete: %s", s.InterruptedReason)
			}
			if s.Hang != tt.hang || s.Recovered != tt.recovered {
				t.Fatalf("hang=%v recovered=%v (verdict %s, onset %v), want hang=%v recovered=%v",
					s.Hang, s.Recovered, s.Verdict, s.HangOnsetS, tt.hang, tt.recovered)
			}
			if tt.hang {
				if s.PeakCloseWait == 0 || s.HangOnsetS == nil || s.OnsetRateRPS == nil {
					t.Fatalf("hang without onset or CLOSE_WAIT: %+v", s)
				}
			}
			if len(rec.Timeline) < 50 {
				t.Fatalf("timeline has %d rows", len(rec.Timeline))
			}
			// vegeta's own decoder reads the results file: `vegeta report` works on it.
			n := 0
			f, err := os.Open(filepath.Join(rec.Dir, results.ResultsFile))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dec := vegeta.DecoderFor(bufio.NewReader(f))
			if dec == nil {
				t.Fatal("vegeta does not recognise results.bin")
			}
			var r vegeta.Result
			for dec.Decode(&r) == nil {
				n++
			}
			if n != s.Requests || n == 0 {
				t.Fatalf("vegeta decoded %d results, summary says %d requests", n, s.Requests)
			}
			assertNothingLeft(t, s)
		})
	}
}

// --stop-on-hang: a one-minute hold far above the self topology's threshold hangs within
// seconds; the load ends once the collapse has held for hang_hold, the recovery probes still
// run, and the summary says when the load stopped and how long into the hold the hang began.
func TestRunStopOnHang(t *testing.T) {
	testtier.Long(t) // runs a load test of about 10 s
	const stage = 60 * time.Second
	prof := filepath.Join(t.TempDir(), "hold.yaml")
	// 120 rps evenly paced is 1.5 x Little's bound of 16 workers x 200 ms (80 rps): the hang
	// comes within a second or two of the hold's start.
	if err := os.WriteFile(prof, []byte(`description: "stop-on-hang test"
stages:
  - {duration: 2s, target: 20}
  - {duration: 1m, mode: hold, target: 120}
client: {timeout: 1s}
recovery: {duration: 2s, interval: 500ms, timeout: 1s}
server: {max_threads: 16, work_time: 200ms}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, rec, _ := runRecord(t, "--topology", "self", "--profile", prof, "--stop-on-hang")
	wall := time.Since(start)
	s := rec.Summary
	if code != 0 || !s.Complete {
		t.Fatalf("exit %d, complete %v (%s)", code, s.Complete, s.InterruptedReason)
	}
	if s.Verdict != results.VerdictHang {
		t.Fatalf("verdict %s, want hang (onset %v)", s.Verdict, s.CollapseOnsetS)
	}
	if wall > stage/2 {
		t.Errorf("the run took %s, want well under the %s hold", wall.Round(time.Second), stage)
	}
	if !s.StoppedOnHang || s.LoadStoppedS == nil || *s.LoadStoppedS != s.LoadDurationS {
		t.Fatalf("stopped_on_hang %v, load_stopped_s %v, load_duration_s %v; want true and equal times",
			s.StoppedOnHang, s.LoadStoppedS, s.LoadDurationS)
	}
	// The load stopped after hang_hold of collapse, not before and not much later.
	if held := *s.LoadStoppedS - *s.HangOnsetS; held < s.Thresholds.HangHoldS-0.5 || held > s.Thresholds.HangHoldS+3 {
		t.Errorf("load stopped %.2f s after the hang onset, want about hang_hold (%.0f s)", held, s.Thresholds.HangHoldS)
	}
	if s.HangStage == nil || *s.HangStage != 1 || s.HangAfterStageStartS == nil ||
		*s.HangAfterStageStartS < 0 || *s.HangAfterStageStartS > *s.LoadStoppedS-2 {
		t.Errorf("hang_stage %v, hang_after_stage_start_s %v; want stage 1 and a time within the hold",
			s.HangStage, s.HangAfterStageStartS)
	}
	if len(rec.Probes) == 0 || s.Recovered {
		t.Errorf("%d recovery probes, recovered %v; want probes and no recovery", len(rec.Probes), s.Recovered)
	}
	for _, x := range rec.Timeline {
		if x.Phase == results.PhaseLoad && x.T > *s.LoadStoppedS+0.5 {
			t.Errorf("a load window at %.2f s, after the load stopped at %.2f s", x.T, *s.LoadStoppedS)
			break
		}
	}
	assertNothingLeft(t, s)
}

// SIGINT mid-run: the run ends within seconds, the children are gone, and the record is
// readable and marked incomplete.
func TestRunSIGINT(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command(simBin, "run", "--topology", "self", "--profile", "quick", "--out", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Wait until the load is on: a few timeline rows.
	deadline := time.Now().Add(20 * time.Second)
	var dir string
	for {
		dirs, _ := filepath.Glob(filepath.Join(out, "*", "timeline.csv"))
		if len(dirs) == 1 {
			data, _ := os.ReadFile(dirs[0])
			if bytes.Count(data, []byte("\n")) > 8 {
				dir = filepath.Dir(dirs[0])
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no timeline rows within 20 s: %s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("sim run did not end within 15 s of SIGINT")
	}
	t.Logf("ended %s after SIGINT", time.Since(sent).Round(time.Millisecond))
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit %d after SIGINT, want 3; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "incomplete") {
		t.Errorf("message does not say the record is incomplete: %s", stderr.String())
	}
	rec, err := results.Read(dir)
	if err != nil {
		t.Fatalf("record of an interrupted run is unreadable: %v", err)
	}
	if rec.Summary.Complete || rec.Summary.Verdict != results.VerdictIncomplete {
		t.Errorf("interrupted record: complete=%v verdict=%s", rec.Summary.Complete, rec.Summary.Verdict)
	}
	if len(rec.Timeline) < 8 {
		t.Errorf("interrupted record kept %d timeline rows", len(rec.Timeline))
	}
	assertNothingLeft(t, rec.Summary)
}

// A child that dies mid-run ends the run with exit 3 and a record that says why.
func TestRunChildDies(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command(simBin, "run", "--topology", "split", "--profile", "quick", "--out", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var s results.Summary
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(out, "*", "summary.json"))
		if len(files) == 1 {
			data, _ := os.ReadFile(files[0])
			if json.Unmarshal(data, &s) == nil && s.ServePID != 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serve_pid in the summary within 20 s: %s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Kill it once the load is on (a few timeline rows), not at a fixed moment: on a loaded
	// machine the run may not have reached its load phase 2 s after the summary named the child.
	deadline = time.Now().Add(20 * time.Second)
	for {
		rows, _ := filepath.Glob(filepath.Join(out, "*", results.TimelineFile))
		if len(rows) == 1 {
			if data, _ := os.ReadFile(rows[0]); bytes.Count(data, []byte("\n")) > 4 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no timeline rows within 20 s: %s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(s.ServePID, syscall.SIGKILL)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("sim run did not end within 15 s of its server dying")
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit %d, want 3; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "sim serve exited") {
		t.Errorf("message does not say the server died: %s", stderr.String())
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*"))
	rec, err := results.Read(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	if rec.Summary.Complete {
		t.Error("record of a failed run marked complete")
	}
	assertNothingLeft(t, rec.Summary)
}

func TestRunBadInputExits2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("stages:\n  - duration: 10s\n    target: -5\n"), 0o644)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("stages:\n  - duration: 10s\n    target: 5\nserver:\n  max_thread: 4\n"), 0o644)
	badServer := filepath.Join(dir, "server.yaml")
	os.WriteFile(badServer, []byte("stages:\n  - duration: 10s\n    target: 5\nserver:\n  connector: apr\n"), 0o644)
	tests := []struct {
		name  string
		args  []string
		field string
	}{
		{"unknown topology", []string{"--topology", "loop"}, "--topology"},
		{"unknown profile", []string{"--profile", "quik"}, "profile"},
		{"negative target", []string{"--profile", bad}, "stages[0].target"},
		{"unknown server key", []string{"--profile", unknown}, "max_thread"},
		{"bad server value", []string{"--profile", badServer}, "connector"},
		{"missing file", []string{"--profile", filepath.Join(dir, "nope.yaml")}, "profile"},
		{"extra argument", []string{"self"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "runs")
			code, _, stderr := simRun(t, nil, append([]string{"run", "--out", out}, tt.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2: %s", code, stderr)
			}
			if !strings.Contains(stderr, tt.field) {
				t.Fatalf("message %q does not name %q", stderr, tt.field)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatalf("bad input left a record folder behind")
			}
		})
	}
}
