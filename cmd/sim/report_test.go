package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/results/report"
)

// writeRecord writes a small complete record to dir with the record writer, as sim run would.
func writeRecord(t *testing.T, dir, topology string) {
	t.Helper()
	w, err := results.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 12; i++ {
		ts := float64(i)
		s := results.Sample{T: ts, WindowS: 1, Phase: results.PhaseLoad, OfferedRPS: 10 * ts, OKRPS: 10 * ts, OK: 10 * i,
			P50: 200, P99: 210, AppUp: true, AppStats: results.AppStats{WorkersBusy: min(i, 8)}, SocketCensus: results.SocketCensus{Established: i}}
		if topology == "self" && i > 6 {
			s.OKRPS, s.OK, s.ErrTimeout, s.CloseWait, s.Queued, s.P50, s.P99 = 0, 0, 10*i, 20*(i-6), 30*(i-6), 1000, 1001
		}
		if i > 10 {
			s.Phase, s.OfferedRPS = results.PhaseRecovery, 0
		}
		if err := w.AddSample(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteConfig(map[string]any{"server": map[string]any{"topology": topology, "max_threads": 8, "work_time": int64(100 * time.Millisecond)}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	onset, rate := 7.0, 70.0
	s := results.Summary{Topology: topology, Profile: "test", Complete: true, Verdict: results.VerdictOK,
		LoadDurationS: 10, RecoveryWindowS: 2, Requests: 550, OK: 550, P50MS: 200, P99MS: 210,
		Thresholds: results.Thresholds{HangFraction: 0.1, HangHoldS: 3, MinOfferedRPS: 1}}
	if topology == "self" {
		s.Verdict, s.Collapse, s.Hang, s.CollapseOnsetS, s.HangOnsetS, s.OnsetRateRPS = results.VerdictHang, true, true, &onset, &onset, &rate
		s.PeakCloseWait, s.OK, s.Errors = 120, 210, map[string]int{"timeout": 340}
	}
	if err := w.WriteSummary(s); err != nil {
		t.Fatal(err)
	}
}

// simReport runs `sim report` in-process and returns the exit code and output.
func simReport(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"report"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestReportCmd(t *testing.T) {
	base := t.TempDir()
	cmp := filepath.Join(base, "cmp")
	writeRecord(t, filepath.Join(cmp, "self"), "self")
	writeRecord(t, filepath.Join(cmp, "split"), "split")
	single := filepath.Join(base, "single")
	writeRecord(t, single, "self")

	newer := filepath.Join(base, "newer")
	writeRecord(t, newer, "self")
	data, _ := os.ReadFile(filepath.Join(newer, results.SummaryFile))
	data = bytes.Replace(data, []byte(`"schema_version": 1`), []byte(`"schema_version": 99`), 1)
	os.WriteFile(filepath.Join(newer, results.SummaryFile), data, 0o644)
	cmpNewer := filepath.Join(base, "cmp-newer")
	writeRecord(t, filepath.Join(cmpNewer, "self"), "self")
	os.WriteFile(filepath.Join(cmpNewer, "self", results.SummaryFile), data, 0o644)

	empty := filepath.Join(base, "empty")
	os.MkdirAll(filepath.Join(empty, "charts"), 0o755)
	aFile := filepath.Join(base, "file.txt")
	os.WriteFile(aFile, []byte("x"), 0o644)

	plan := filepath.Join(base, "plan")
	os.MkdirAll(plan, 0o755)
	hz, dl := 3e-4, 74.0
	planJSON, _ := json.Marshal(results.Plan{SchemaVersion: results.PlanSchemaVersion, Topology: "self", Engine: results.EngineModel, WorkTimeS: 0.2, SelfCallS: 0.005,
		HorizonS: 86400, Risk: 0.01, BudgetPerHour: results.BudgetPerHour(86400, 0.01),
		Recommendation: "Keep self under 12 rps with 16 workers.",
		Rows: []results.PlanRow{
			{MaxThreads: 16, Arrivals: "poisson", Basis: results.BasisRisk, SafeRPS: 12, HazardPerHour: &hz, PredictedRPS: 78},
			{MaxThreads: 16, Arrivals: "uniform", Basis: results.BasisThreshold, SafeRPS: dl, DeadlockRPS: &dl, PredictedRPS: 78, Ratio: 0.95},
			{MaxThreads: 32, Arrivals: "poisson", Basis: results.BasisRisk, SafeRPS: 30, HazardPerHour: &hz, PredictedRPS: 156},
		},
		Curves: []results.HazardCurve{{MaxThreads: 16, Points: []results.HazardPoint{{RateRPS: 12, HazardPerHour: hz}, {RateRPS: 30, HazardPerHour: 50}}}}})
	os.WriteFile(filepath.Join(plan, "plan.json"), planJSON, 0o644)
	version := []byte(`"schema_version":` + strconv.Itoa(results.PlanSchemaVersion))
	planNewer := filepath.Join(base, "plan-newer")
	os.MkdirAll(planNewer, 0o755)
	os.WriteFile(filepath.Join(planNewer, "plan.json"), bytes.Replace(planJSON, version, []byte(`"schema_version":7`), 1), 0o644)
	planOlder := filepath.Join(base, "plan-older")
	os.MkdirAll(planOlder, 0o755)
	os.WriteFile(filepath.Join(planOlder, "plan.json"), bytes.Replace(planJSON, version, []byte(`"schema_version":1`), 1), 0o644)

	out := filepath.Join(base, "out")
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     string
		wantFiles  []string
		wantAbsent []string
	}{
		{
			name: "comparison folder: reports at its top", args: []string{cmp}, code: 0,
			stdout:    []string{"self", "split", "verdict", "HANG", "wrote:", filepath.Join(cmp, report.HTMLFile)},
			wantFiles: []string{filepath.Join(cmp, report.HTMLFile), filepath.Join(cmp, report.MarkdownFile), filepath.Join(cmp, "charts", "throughput.png"), filepath.Join(cmp, "charts", "sockets.png")},
		},
		{
			name: "run record: report inside it", args: []string{single}, code: 0,
			stdout:    []string{"HANG", filepath.Join(single, report.MarkdownFile)},
			wantFiles: []string{filepath.Join(single, report.HTMLFile), filepath.Join(single, results.SummaryFile)},
		},
		{
			name: "several records need --out", args: []string{filepath.Join(cmp, "self"), filepath.Join(cmp, "split")}, code: 2,
			stderr: "--out", wantAbsent: []string{filepath.Join(cmp, "self", report.HTMLFile)},
		},
		{
			name: "several records with --out", args: []string{"--out", out, "--title", "mine", filepath.Join(cmp, "self"), filepath.Join(cmp, "split")}, code: 0,
			stdout: []string{"self", "split"}, wantFiles: []string{filepath.Join(out, report.HTMLFile)},
		},
		{
			name: "nonexistent folder: exit 2 naming it", args: []string{filepath.Join(base, "nope")}, code: 2,
			stderr: filepath.Join(base, "nope") + ": no such folder",
		},
		{
			name: "a file, not a folder", args: []string{aFile}, code: 2, stderr: aFile + " is not a folder",
		},
		{
			name: "folder with nothing to report", args: []string{empty}, code: 2,
			stderr: empty + " is not a run record, comparison or plan folder", wantAbsent: []string{filepath.Join(empty, report.HTMLFile)},
		},
		{
			name: "newer schema_version: results.Read's message, exit 2", args: []string{newer}, code: 2,
			stderr: "has schema_version 99; this sim reads up to 1: upgrade sim", wantAbsent: []string{filepath.Join(newer, report.HTMLFile)},
		},
		{
			name: "newer schema_version inside a comparison", args: []string{cmpNewer}, code: 2,
			stderr: "schema_version 99",
		},
		{
			name: "plan folder", args: []string{plan}, code: 0,
			stdout: []string{"pool size", "safe rps", "Keep self under 12 rps", filepath.Join(plan, report.PlanHTMLFile)},
			wantFiles: []string{filepath.Join(plan, report.PlanHTMLFile), filepath.Join(plan, report.PlanMDFile),
				filepath.Join(plan, "charts", "plan-hazard.png"), filepath.Join(plan, "charts", "plan-capacity.png")},
		},
		{
			name: "newer plan schema", args: []string{planNewer}, code: 2, stderr: "schema_version: 7 is not allowed",
		},
		{
			name: "older plan schema: a margin, not a risk", args: []string{planOlder}, code: 2, stderr: "schema_version: 1 is not allowed (allowed: 2: this plan is from an older sim",
		},
		{
			name: "a plan is reported alone", args: []string{"--out", out, plan, single}, code: 2, stderr: "a plan folder on its own",
		},
		{
			name: "no folder at all", args: nil, code: 2, stderr: "requires at least 1 arg",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := simReport(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.stderr)
			}
			for _, f := range tt.wantFiles {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("not written: %v", err)
				}
			}
			for _, f := range tt.wantAbsent {
				if _, err := os.Stat(f); err == nil {
					t.Errorf("%s written, want nothing", f)
				}
			}
		})
	}
}

// chromiumPath finds Debian's chromium. Without it the browser test skips, except in CI, where
// a skipped browser test would hide a report that no longer renders.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not installed (CI=true): apt-get install chromium")
	}
	t.Skip("chromium not installed: apt-get install chromium")
	return ""
}

// browserProfile is a short real run: 8 s ramp to 60 rps on 4 workers of 100 ms, so self passes
// its threshold (4 / 0.1 s = 40 rps) a few seconds in; 3 s of recovery probes.
const browserProfile = `description: "sim report browser test: short ramp on 4 workers"
stages:
  - {duration: 8s, from: 5, target: 60}
client: {timeout: 1s}
recovery: {duration: 3s, interval: 500ms, timeout: 500ms}
detect: {hang_fraction: 0.1, hang_hold: 2s}
server: {max_threads: 4, work_time: 100ms}
`

// chromiumTimeout bounds one headless Chromium call; it takes 1-3 s here.
const chromiumTimeout = 30 * time.Second

// runChromium runs headless Chromium on a page and returns its stdout and stderr. Chromium
// forks helpers (zygote, renderer, GPU), so it runs in its own process group and the whole group
// is killed if it overruns.
func runChromium(t *testing.T, bin, profileDir string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--disable-dev-shm-usage", "--user-data-dir=" + profileDir,
		"--enable-logging=stderr", "--v=0",
		// Lets the page's timers run (the status is written after the charts paint) before
		// the DOM is dumped or the screenshot taken.
		"--virtual-time-budget=5000",
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// Helpers that outlive the browser process belong to its group: end them on every path.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil {
		t.Fatalf("chromium %v: %v\nstderr: %s", args, err, tail(stderr.String(), 2000))
	}
	return stdout.String(), stderr.String()
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return "\n" + err.Error()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

var (
	statusRE  = regexp.MustCompile(`<pre id="render-status"[^>]*>([^<]*)</pre>`)
	consoleRE = regexp.MustCompile(`(?m)^.*:CONSOLE[:(].*$`)
)

// TestReportBrowser renders the report of two real runs (self and split, a short profile) and
// opens it in headless Chromium from file://: every chart must paint, with no error on the
// console. It saves a screenshot in the test's temp dir, and copies it to $SIM_SCREENSHOT_DIR
// when that is set, to look at.
func TestReportBrowser(t *testing.T) {
	testtier.Long(t) // runs two short load tests and a browser
	chromium := chromiumPath(t)
	start := time.Now()
	tmp := t.TempDir()
	profile := filepath.Join(tmp, "browser.yaml")
	if err := os.WriteFile(profile, []byte(browserProfile), 0o644); err != nil {
		t.Fatal(err)
	}

	// Both runs at once: each has its own server processes on fresh ports.
	cmp := filepath.Join(tmp, "cmp")
	var wg sync.WaitGroup
	codes, outs := make([]int, 2), make([]string, 2)
	for i, top := range []string{"self", "split"} {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, simBin, "run", "--topology", top, "--profile", profile, "--out", filepath.Join(tmp, "runs-"+top))
			out, err := cmd.CombinedOutput()
			codes[i], outs[i] = -1, string(out)+fmtErr(err)
			if cmd.ProcessState != nil {
				codes[i] = cmd.ProcessState.ExitCode()
			}
		})
	}
	wg.Wait()
	for i, top := range []string{"self", "split"} {
		if codes[i] != 0 {
			t.Fatalf("sim run --topology %s: exit %d\n%s", top, codes[i], outs[i])
		}
		dirs, _ := filepath.Glob(filepath.Join(tmp, "runs-"+top, "*"))
		if len(dirs) != 1 {
			t.Fatalf("want one record for %s, got %v", top, dirs)
		}
		// Laid out as sim compare does: one record per topology under the comparison folder.
		os.MkdirAll(cmp, 0o755)
		if err := os.Rename(dirs[0], filepath.Join(cmp, top)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("two real runs in %s", time.Since(start).Round(100*time.Millisecond))

	code, stdout, stderr := simRun(t, nil, "report", cmp)
	if code != 0 {
		t.Fatalf("sim report: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("sim report:\n%s", stdout)
	page := "file://" + filepath.Join(cmp, report.HTMLFile)

	dom, logs := runChromium(t, chromium, filepath.Join(tmp, "chrome-profile"), "--dump-dom", page)
	m := statusRE.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no #render-status in the rendered page:\n%s", tail(dom, 3000))
	}
	status := m[1]
	t.Logf("render status: %s", status)
	for _, want := range []string{"charts=5 ", "expected=5 ", "drawn=5 ", "errors=0 "} {
		if !strings.Contains(status, want) {
			t.Errorf("render status %q lacks %q: a chart did not draw or the page had errors", status, want)
		}
	}
	if lines := consoleRE.FindAllString(logs, -1); len(lines) > 0 {
		t.Errorf("the page wrote to the console:\n%s", strings.Join(lines, "\n"))
	}
	checkMatrixDOM(t, dom, []string{"self", "split"})

	// Every topology at once, from the model (milliseconds a run): eight runs overlaid on every
	// chart must still draw, and the matrix has a row each.
	code, stdout, stderr = simRun(t, nil, "compare", "--topologies", "all", "--engine", "model", "--profile", "quick", "--out", filepath.Join(tmp, "all"))
	if code != 0 {
		t.Fatalf("sim compare --topologies all --engine model: exit %d\n%s\n%s", code, stdout, stderr)
	}
	all, _ := filepath.Glob(filepath.Join(tmp, "all", "*-compare", report.HTMLFile))
	if len(all) != 1 {
		t.Fatalf("reports of the comparison of all: %v", all)
	}
	dom, logs = runChromium(t, chromium, filepath.Join(tmp, "chrome-profile"), "--dump-dom", "file://"+all[0])
	if m := statusRE.FindStringSubmatch(dom); m == nil || !strings.Contains(m[1], "charts=5 ") || !strings.Contains(m[1], "drawn=5 ") || !strings.Contains(m[1], "errors=0 ") {
		t.Errorf("report of all topologies: render status %v, want 5 charts drawn and no error", m)
	}
	if lines := consoleRE.FindAllString(logs, -1); len(lines) > 0 {
		t.Errorf("the report of all topologies wrote to the console:\n%s", strings.Join(lines, "\n"))
	}
	checkMatrixDOM(t, dom, topology.Names())
	allShot := filepath.Join(tmp, "report-all.png")
	runChromium(t, chromium, filepath.Join(tmp, "chrome-profile"), "--window-size=1400,2400", "--screenshot="+allShot, "file://"+all[0])

	shot := filepath.Join(tmp, "report.png")
	runChromium(t, chromium, filepath.Join(tmp, "chrome-profile"), "--window-size=1400,2400", "--screenshot="+shot, page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	cfg, err := png.DecodeConfig(f)
	f.Close()
	if err != nil || cfg.Width != 1400 || cfg.Height != 2400 {
		t.Errorf("screenshot %s: %dx%d, %v", shot, cfg.Width, cfg.Height, err)
	}
	t.Logf("screenshot: %s", shot)
	if keep := os.Getenv("SIM_SCREENSHOT_DIR"); keep != "" {
		for _, f := range []string{shot, filepath.Join(cmp, report.HTMLFile), allShot} {
			if err := copyFile(f, filepath.Join(keep, filepath.Base(f))); err != nil {
				t.Errorf("keep %s: %v", f, err)
			}
		}
		t.Logf("copied the screenshot and the report to %s", keep)
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("browser test took %s, want under 60 s", d)
	}
}

// checkMatrixDOM checks the comparison matrix as the browser built it: a row per topology, in
// order, and at least one value marked best.
func checkMatrixDOM(t *testing.T, dom string, want []string) {
	t.Helper()
	var rows []string
	for _, m := range matrixRowRE.FindAllStringSubmatch(dom, -1) {
		rows = append(rows, m[1])
	}
	if strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("matrix rows in the browser: %v, want %v", rows, want)
	}
	if !strings.Contains(dom, `class="best-mark"`) || !regexp.MustCompile(`<td class="[^"]*\bbest\b`).MatchString(dom) {
		t.Error("no value of the matrix is marked best in the browser")
	}
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
