package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/results"
)

// The newcomer's main command, with no flags: both topologies on quick, a table, the reports.
func TestCompareDefault(t *testing.T) {
	testtier.Long(t) // two 30 s runs
	dir := t.TempDir()
	start := time.Now()
	code, stdout, stderr := simRunIn(t, dir, nil, "compare")
	wall := time.Since(start)
	t.Logf("sim compare: exit %d in %s", code, wall.Round(time.Second))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if wall > 2*time.Minute {
		t.Errorf("sim compare took %s, want about 2 minutes or less", wall)
	}
	for _, want := range []string{"verdict", "HANG", "recovered", "capacity", "peak CLOSE_WAIT", "recovery", "p50 / p99", "report.html"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	cmp, _ := filepath.Glob(filepath.Join(dir, "runs", "*-compare"))
	if len(cmp) != 1 {
		t.Fatalf("comparison folders: %v", cmp)
	}
	// What a user must see, whatever the machine's speed: self hangs for good; split does not
	// hang and answers again after the load (on a quiet machine it saturates at its capacity,
	// 80 rps = 16 workers / 200 ms, near the ramp's end; on a busy one it may collapse briefly
	// and drain its queue, which the recovery's drain extension waits for).
	for topo, check := range map[string]func(results.Summary) bool{
		"self":  func(s results.Summary) bool { return s.Verdict == results.VerdictHang && !s.Recovered },
		"split": func(s results.Summary) bool { return s.Verdict != results.VerdictHang && s.Recovered },
	} {
		data, err := os.ReadFile(filepath.Join(cmp[0], topo, "summary.json"))
		if err != nil {
			t.Fatal(err)
		}
		var s results.Summary
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		if !check(s) {
			t.Errorf("%s: verdict %s, recovered %v: want self hung for good, split not hung and recovered", topo, s.Verdict, s.Recovered)
		}
	}
	for _, f := range []string{"report.html", "report.md", "self/summary.json", "split/summary.json"} {
		if _, err := os.Stat(filepath.Join(cmp[0], f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
}

// sim reproduce --quick on real nginx shows the incident's signature.
func TestReproduceQuick(t *testing.T) {
	testtier.Long(t) // two 25 s runs
	needNginx(t)
	out := t.TempDir()
	start := time.Now()
	code, stdout, stderr := simRun(t, nil, "reproduce", "--quick", "--out", out)
	wall := time.Since(start)
	t.Logf("sim reproduce --quick: exit %d in %s\n%s", code, wall.Round(time.Second), stdout)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if wall > time.Minute+10*time.Second {
		t.Errorf("reproduce --quick took %s, want under a minute", wall)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*-reproduce"))
	if len(dirs) != 1 {
		t.Fatalf("reproduce folders: %v", dirs)
	}
	self, err := results.Read(filepath.Join(dirs[0], "self"))
	if err != nil {
		t.Fatal(err)
	}
	split, err := results.Read(filepath.Join(dirs[0], "split"))
	if err != nil {
		t.Fatal(err)
	}
	s := self.Summary
	set, _ := results.ReadServerSettings(self.Dir)
	if !s.Hang || s.Recovered {
		t.Errorf("self: hang=%v recovered=%v, want a hang and no recovery", s.Hang, s.Recovered)
	}
	if s.AcceptErrors == 0 {
		t.Errorf("self: no accept errors: the fd limit (%d) was not reached", set.NoFile)
	}
	if s.PeakCloseWait < set.NoFile*8/10 {
		t.Errorf("self: peak CLOSE_WAIT %d, want near the fd limit %d", s.PeakCloseWait, set.NoFile)
	}
	p := split.Summary
	ss, _ := results.ReadServerSettings(split.Dir)
	if ss.Static.Server != "nginx" {
		t.Errorf("split ran with static server %q, want nginx", ss.Static.Server)
	}
	if p.Hang || p.Collapse || !p.Recovered {
		t.Errorf("split with nginx: hang=%v collapse=%v recovered=%v", p.Hang, p.Collapse, p.Recovered)
	}
	var lines []results.SignatureLine
	data, err := os.ReadFile(filepath.Join(dirs[0], "signature.json"))
	if err != nil || json.Unmarshal(data, &lines) != nil || len(lines) != 5 {
		t.Fatalf("signature.json: %v %s", err, data)
	}
	for _, l := range lines {
		if !l.Shown {
			t.Errorf("symptom not shown: %s — measured %s", l.Symptom, l.Measured)
		}
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "report.html")); err != nil {
		t.Error(err)
	}
	assertNothingLeft(t, s)
	assertNothingLeft(t, p)
}

// sim plan's evenly paced deadlock rates on real sockets against Little's law: within ±30 %.
func TestPlanDeadlockMatchesModel(t *testing.T) {
	testtier.Long(t) // two 33 s ramps
	out := t.TempDir()
	code, stdout, stderr := simRun(t, nil, "plan", "--topology", "self", "--max-threads", "8,16", "--deadlock-only", "--engine", "sockets", "--arrivals", "uniform", "--json", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var p results.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("plan.json: %v\n%s", err, stdout)
	}
	if len(p.Rows) != 2 {
		t.Fatalf("rows: %+v", p.Rows)
	}
	for _, r := range p.Rows {
		if r.DeadlockRPS == nil {
			t.Errorf("%d workers: no deadlock measured", r.MaxThreads)
			continue
		}
		t.Logf("%d workers: deadlock %.1f rps, predicted %.1f, ratio %.2f", r.MaxThreads, *r.DeadlockRPS, r.PredictedRPS, r.Ratio)
		if r.Ratio < 0.7 || r.Ratio > 1.3 {
			t.Errorf("%d workers: measured/predicted %.2f, want within ±30%%", r.MaxThreads, r.Ratio)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*-plan"))
	for _, f := range []string{"plan.json", "plan.html", "plan.md"} {
		if len(dirs) != 1 {
			t.Fatalf("plan folders %v", dirs)
		}
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Error(err)
		}
	}
}

// Thresholds in a profile: a breach exits 1 and names it; a run within them exits 0.
func TestRunThresholds(t *testing.T) {
	dir := t.TempDir()
	prof := func(name, thresholds string) string {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(`stages: [{duration: 8s, from: 5, target: 80}]
client: {timeout: 1s}
recovery: {duration: 2s, interval: 500ms, timeout: 1s}
server: {max_threads: 4, work_time: 100ms}
thresholds: `+thresholds+"\n"), 0o644)
		return path
	}
	code, _, stderr := simRun(t, nil, "run", "--topology", "self", "--profile", prof("hang.yaml", "{hang: forbidden, p99: 500ms}"), "--out", dir)
	if code != 1 || !strings.Contains(stderr, "hang (forbidden)") || !strings.Contains(stderr, "p99") {
		t.Errorf("self with hang forbidden: exit %d, %s", code, stderr)
	}
	code, _, stderr = simRun(t, nil, "run", "--topology", "self", "--profile", prof("lenient.yaml", "{p99: 10s, errors: 100%}"), "--out", dir)
	if code != 0 {
		t.Errorf("within thresholds: exit %d, %s", code, stderr)
	}
}
