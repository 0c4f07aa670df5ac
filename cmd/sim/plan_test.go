package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/results/report"
)

// Bad values of the risk budget, the peak rate and the engine: exit 2 at once, naming the flag
// and the value, and nothing written.
func TestPlanBadBudgetFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, flag, value string
		args              []string
	}{
		{"horizon zero", "--horizon", "0s", []string{"--horizon", "0s"}},
		{"horizon negative", "--horizon", "-24h0m0s", []string{"--horizon", "-24h"}},
		{"horizon under a minute", "--horizon", "30s", []string{"--horizon", "30s"}},
		{"horizon over a year", "--horizon", "87600h0m0s", []string{"--horizon", "87600h"}},
		{"risk zero", "--risk", "0", []string{"--risk", "0"}},
		{"risk 100%", "--risk", "100%", []string{"--risk", "100%"}},
		{"risk above an even chance", "--risk", "60%", []string{"--risk", "60%"}},
		{"risk negative", "--risk", "-1%", []string{"--risk", "-1%"}},
		{"risk NaN", "--risk", "NaN", []string{"--risk", "NaN"}},
		{"risk words", "--risk", "low", []string{"--risk", "low"}},
		{"peak rate zero", "--peak-rate", "0", []string{"--peak-rate", "0"}},
		{"peak rate negative", "--peak-rate", "-5", []string{"--peak-rate", "-5"}},
		{"peak rate NaN", "--peak-rate", "NaN", []string{"--peak-rate", "NaN"}},
		{"peak rate infinite", "--peak-rate", "+Inf", []string{"--peak-rate", "Inf"}},
		{"peak rate too high", "--peak-rate", "1e+06", []string{"--peak-rate", "1e6"}},
		{"unknown engine", "--engine", "tomcat", []string{"--engine", "tomcat"}},
		{"risk with split", "--risk", "5%", []string{"--topology", "split", "--risk", "5%"}},
		{"horizon with split", "--horizon", "1h0m0s", []string{"--topology", "split", "--horizon", "1h"}},
		{"verify with split", "--verify", "true", []string{"--topology", "split", "--verify"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "plans")
			code, stdout, stderr := simRun(t, nil, append([]string{"plan", "--out", out}, tt.args...)...)
			if code != exitBadInput {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.flag) || !strings.Contains(stderr, tt.value) {
				t.Errorf("stderr %q does not name %s and %q", stderr, tt.flag, tt.value)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused plan wrote %s", out)
			}
		})
	}
}

// A plan on the model: seconds, a v2 plan.json whose rows carry the risk over the horizon, and
// a page that leads with the answer.
func TestPlanOnTheModel(t *testing.T) {
	out := t.TempDir()
	start := time.Now()
	code, stdout, stderr := simRun(t, nil, "plan", "--max-threads", "16", "--deadlock-only", "--horizon", "168h", "--risk", "5%", "--json", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	t.Logf("sim plan on the model: %s\n%s", time.Since(start).Round(100*time.Millisecond), stderr)
	var p results.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("plan.json: %v\n%s", err, stdout)
	}
	if p.SchemaVersion != results.PlanSchemaVersion || p.Engine != results.EngineModel || p.HorizonS != 7*86400 || p.Risk != 0.05 {
		t.Errorf("plan: schema %d, engine %q, horizon %v s, risk %v", p.SchemaVersion, p.Engine, p.HorizonS, p.Risk)
	}
	if len(p.Rows) != 2 {
		t.Fatalf("rows %+v: want uniform and poisson (the default)", p.Rows)
	}
	var uniform, poisson results.PlanRow
	for _, r := range p.Rows {
		if r.Arrivals == "poisson" {
			poisson = r
		} else {
			uniform = r
		}
	}
	if poisson.Basis != results.BasisRisk || poisson.HazardPerHour == nil || poisson.HazardCI == nil || poisson.HorizonS != p.HorizonS || poisson.Risk != p.Risk {
		t.Fatalf("poisson row %+v: want a risk-based safe rate with its hazard", poisson)
	}
	if poisson.HazardCI.Hi > p.BudgetPerHour*1.0001 {
		t.Errorf("safe %.1f rps: hazard up to %.3g per hour, over the budget %.3g", poisson.SafeRPS, poisson.HazardCI.Hi, p.BudgetPerHour)
	}
	if uniform.DeadlockRPS == nil || poisson.SafeRPS >= *uniform.DeadlockRPS/2 {
		t.Errorf("safe %.1f rps with Poisson arrivals, evenly paced threshold %v: want the risk far below the threshold", poisson.SafeRPS, uniform.DeadlockRPS)
	}
	if len(p.Curves) != 1 || len(p.Curves[0].Points) < 3 {
		t.Errorf("curves %+v", p.Curves)
	}
	if !strings.Contains(p.Recommendation, "only make its hang rare") {
		t.Errorf("recommendation: %s", p.Recommendation)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*-plan"))
	if len(dirs) != 1 {
		t.Fatalf("plan folders %v", dirs)
	}
	md, err := os.ReadFile(filepath.Join(dirs[0], report.PlanMDFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strings.SplitN(string(md), "\n## ", 2)[1], "Safe rate per pool size: at most 5 % chance of a hang within 7 days") {
		t.Errorf("plan.md does not lead with the answer:\n%s", md)
	}
	if _, err := results.ReadPlan(dirs[0]); err != nil {
		t.Errorf("sim cannot read the plan it wrote: %v", err)
	}
}

// --peak-rate answers with the fewest workers, and with evenly paced arrivals alone the plan
// warns that it is a best case.
func TestPlanPeakRateAndUniformWarning(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := simRun(t, nil, "plan", "--max-threads", "16", "--deadlock-only", "--arrivals", "poisson", "--peak-rate", "40", "--json", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var p results.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatal(err)
	}
	// Little's law needs at least 40 × 0.2015 ≈ 9 workers to carry 40 rps at all; the risk
	// needs more.
	if p.Peak == nil || p.Peak.Workers <= 9 || p.Peak.Workers > planMaxThreads || p.Peak.HazardCI == nil || p.Peak.HazardCI.Hi > p.BudgetPerHour*1.0001 {
		t.Fatalf("peak %+v: want the fewest workers within the budget %.3g", p.Peak, p.BudgetPerHour)
	}
	if !strings.Contains(p.Recommendation, fmt.Sprintf("at least %d workers", p.Peak.Workers)) {
		t.Errorf("recommendation does not give the workers: %s", p.Recommendation)
	}

	code, _, stderr = simRun(t, nil, "plan", "--max-threads", "8", "--deadlock-only", "--arrivals", "uniform", "--out", out)
	if code != 0 {
		t.Fatalf("uniform only: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: planned from evenly paced arrivals only") || !strings.Contains(stderr, "best case") {
		t.Errorf("uniform only: no warning on stderr:\n%s", stderr)
	}
}

// TestPlanBrowser opens a model plan's page in headless Chromium: every chart paints (the
// hazard curve on a log scale, the rates per pool size), with no error on the console, and the
// status line stays hidden.
func TestPlanBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	out := t.TempDir()
	code, _, stderr := simRun(t, nil, "plan", "--max-threads", "8,16", "--deadlock-only", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*-plan"))
	if len(dirs) != 1 {
		t.Fatalf("plan folders %v", dirs)
	}
	page := "file://" + filepath.Join(dirs[0], report.PlanHTMLFile)
	dom, logs := runChromium(t, chromium, filepath.Join(t.TempDir(), "chrome-profile"), "--dump-dom", page)
	m := statusRE.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no #render-status in the rendered page:\n%s", tail(dom, 3000))
	}
	t.Logf("render status: %s", m[1])
	for _, want := range []string{"charts=2 ", "expected=2 ", "drawn=2 ", "errors=0 "} {
		if !strings.Contains(m[1], want) {
			t.Errorf("render status %q lacks %q", m[1], want)
		}
	}
	if !strings.Contains(dom, `<pre id="render-status" hidden=""`) {
		t.Errorf("the status line is shown to the reader: %s", m[0])
	}
	if lines := consoleRE.FindAllString(logs, -1); len(lines) > 0 {
		t.Errorf("the page wrote to the console:\n%s", strings.Join(lines, "\n"))
	}
}

// planHoldProfile is one steady Poisson hold of 16 workers × 200 ms at a rate, with a seed.
const planHoldProfile = `description: "sim plan real-socket check: a steady Poisson hold at the planned safe rate"
stages:
  - {duration: %s, mode: hold, target: %.3f}
arrivals: poisson
seed: %d
client: {timeout: 2s}
recovery: {duration: 5s, interval: 500ms, timeout: 1s}
server: {max_threads: 16, work_time: 200ms}
`

// TestPlanSafeRateHoldsOnSockets: at the safe_rps that `sim plan --max-threads 16 --arrivals
// poisson` prints (16 × 200 ms, the default budget of 1 % in 24 h), three 5-minute Poisson
// holds on real sockets, with different seeds, do not hang. They run at once, each its own
// server on fresh ports, to take 5 minutes rather than 15. bench/plan/verify.sh is the long
// version.
func TestPlanSafeRateHoldsOnSockets(t *testing.T) {
	testtier.Long(t) // three 5-minute real-socket holds
	const hold = 5 * time.Minute
	out := t.TempDir()
	code, stdout, stderr := simRun(t, nil, "plan", "--max-threads", "16", "--arrivals", "poisson", "--json", "--out", filepath.Join(out, "plan"))
	if code != 0 {
		t.Fatalf("sim plan: exit %d\n%s", code, stderr)
	}
	var p results.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil || len(p.Rows) != 1 || p.Rows[0].SafeRPS <= 0 {
		t.Fatalf("plan %v: %s", err, stdout)
	}
	safe := p.Rows[0].SafeRPS
	t.Logf("safe_rps %.2f (hazard %s per hour, %s), holding %s at it three times", safe,
		results.FormatHazard(*p.Rows[0].HazardPerHour), p.Rows[0].HazardMethod, hold)

	t.Logf("load average before the holds: %s", loadAverage())
	var wg sync.WaitGroup
	sums := make([]results.Summary, 3)
	errs := make([]string, 3)
	for i := range sums {
		seed := i + 1
		wg.Go(func() {
			prof := writeFile(t, out, fmt.Sprintf("hold-%d.yaml", seed), fmt.Sprintf(planHoldProfile, hold, safe, seed))
			ctx, cancel := context.WithTimeout(context.Background(), hold+2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, simBin, "run", "--topology", "self", "--profile", prof, "--stop-on-hang", "--json", "--out", filepath.Join(out, fmt.Sprintf("runs-%d", seed)))
			b, err := cmd.Output()
			if err != nil {
				errs[i] = fmt.Sprintf("seed %d: %v\n%s", seed, err, b)
				return
			}
			if err := json.Unmarshal(b, &sums[i]); err != nil {
				errs[i] = fmt.Sprintf("seed %d: summary: %v\n%s", seed, err, b)
			}
		})
	}
	wg.Wait()
	for i, s := range sums {
		if errs[i] != "" {
			t.Error(errs[i])
			continue
		}
		t.Logf("seed %d: %d requests, %d OK, p99 %.0f ms, verdict %s", i+1, s.Requests, s.OK, s.P99MS, s.Verdict)
		if s.Hang || s.Verdict == results.VerdictHang {
			after := "?"
			if s.HangAfterStageStartS != nil {
				after = fmt.Sprintf("%.1f", *s.HangAfterStageStartS)
			}
			t.Errorf("seed %d: hung at %.1f rps, the safe rate, %s s into the hold (load average then: %s)", i+1, safe, after, loadAverage())
		}
		assertNothingLeft(t, s)
	}
}

// loadAverage is /proc/loadavg's first three figures: a hang on a shared 2-core machine may be a
// stall of the server process (the model has none), and the load says whether one was likely.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
