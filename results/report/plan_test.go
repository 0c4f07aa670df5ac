package report

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/simdev/sim/results"
)

func fptr(f float64) *float64 { return &f }

// synthHazard is the fixed hazard curve of the synthetic plans: it rises a decade every
// 6 % of Little's law, crossing 4.2e-4 per hour (1 % in a day) at 20 % of it.
func synthHazard(rate, pred float64) float64 {
	return 4.1876e-4 * math.Pow(10, (rate/pred-0.2)/0.06)
}

// synthPlan is a fixed self plan over three pool sizes (listed out of order: the report sorts),
// with rows for the arrival processes given, the hazard curves of the Poisson rows, and, when
// extras is set, --peak-rate's answer and a verify hold. Rates follow Little's law with
// work_time 200 ms + self-call 5 ms.
func synthPlan(arrivals []string, extras bool) *results.Plan {
	p := &results.Plan{
		SchemaVersion: results.PlanSchemaVersion, Topology: "self", Engine: results.EngineModel, WorkTimeS: 0.2, SelfCallS: 0.005,
		SLO:      results.SLO{P99MS: 500, ErrorRate: 0.01},
		HorizonS: 86400, Risk: 0.01, BudgetPerHour: results.BudgetPerHour(86400, 0.01),
		Search:         "Hazard: the virtual-time model under steady Poisson arrivals. SLO: bisection over constant rates, 5 steps of 8s each on the virtual-time model.",
		Recommendation: "With 16 workers keep the average rate at or below 15.6 rps: about one hang in 99 days of this traffic. Sizing alone cannot make a self-call topology without timeouts safe, only make its hang rare.",
		Explanation:    []string{"Safe rate: the highest average rate whose chance of a hang within 24 h is at most 1 %.", "Why a risk and not a threshold: random arrivals reach the absorbing state at any rate."},
		StartedAt:      "2026-11-25T14:00:00Z", FinishedAt: "2026-11-25T14:00:09Z",
	}
	for _, threads := range []int{32, 8, 16} {
		pred := float64(threads) / 0.205
		for _, a := range arrivals {
			row := results.PlanRow{MaxThreads: threads, Arrivals: a, HorizonS: 86400, Risk: 0.01, PredictedRPS: pred}
			if a == "uniform" {
				dl := 0.97 * pred
				row.Basis, row.SafeRPS, row.DeadlockRPS, row.Ratio = results.BasisThreshold, dl, &dl, 0.97
				row.Steps = []results.PlanStep{{RateRPS: 1.75 * pred, P99MS: 2000, ErrorRate: 0.4, Hang: true, OnsetRPS: &dl, Record: "runs/n" + strconv.Itoa(threads) + "-uniform-ramp"}}
			} else {
				safe := 0.2 * pred
				h := synthHazard(safe, pred) / 1.3
				row.Basis, row.SafeRPS, row.RiskRPS = results.BasisRisk, safe, fptr(safe)
				row.HazardPerHour, row.HazardCI, row.HazardMethod = &h, &results.Interval{Lo: h / 1.3, Hi: h * 1.3, Level: 0.95}, "splitting"
				if threads == 8 {
					// Not measured: the SLO search was skipped for the others.
					row.SustainedRPS, row.Ratio = fptr(0.7*pred), 0.7
					row.Steps = []results.PlanStep{{RateRPS: 0.7 * pred, P99MS: 380, MeetsSLO: true, Record: "runs/n8-poisson-27.3rps"}}
				}
				c := results.HazardCurve{MaxThreads: threads}
				for _, share := range []float64{0.18, 0.2, 0.3, 0.5, 0.7, 0.9} {
					hz := synthHazard(share*pred, pred)
					c.Points = append(c.Points, results.HazardPoint{RateRPS: share * pred, HazardPerHour: hz, HazardCI: results.Interval{Lo: hz / 1.3, Hi: hz * 1.3, Level: 0.95}, Method: "splitting"})
				}
				p.Curves = append(p.Curves, c)
			}
			p.Rows = append(p.Rows, row)
		}
	}
	if extras {
		h := 3.1e-4
		p.Peak = &results.PlanPeak{RateRPS: 40, Arrivals: "poisson", Basis: results.BasisRisk, Workers: 30, SearchedMax: 1024, HazardPerHour: &h, HazardCI: &results.Interval{Lo: 2.2e-4, Hi: 4.0e-4, Level: 0.95}}
		measured := 48.0
		p.Verify = &results.PlanVerify{MaxThreads: 8, RateRPS: 21.7, Seed: 1, HoldS: 300, PredictedPerHour: 60, PredictedCI: results.Interval{Lo: 45, Hi: 80, Level: 0.95},
			PredictedMeanS: 60, PredictedP: results.HangProbability(60, 300), Hang: true, MeasuredS: &measured, Record: "runs/verify-n8-21.7rps"}
	}
	return p
}

// synthSplit is a split plan: capacity within the SLO, no hazard.
func synthSplit() *results.Plan {
	p := &results.Plan{
		SchemaVersion: results.PlanSchemaVersion, Topology: "split", Engine: results.EngineSockets, WorkTimeS: 0.2, SelfCallS: 0.004,
		SLO: results.SLO{P99MS: 300, ErrorRate: 0.005}, Search: "SLO: bisection over constant rates, 5 steps of 8s each on the real server.",
		Recommendation: "With 16 workers the split topology met the SLO up to 74 rps. It has no self-call cycle, so it does not hang.",
		Explanation:    []string{"Split has no self-call cycle, so it has no hang hazard."},
		StartedAt:      "2026-11-25T15:00:00Z",
	}
	for _, n := range []int{16, 32} {
		pred := float64(n) / 0.204
		s := 0.94 * pred
		p.Rows = append(p.Rows, results.PlanRow{MaxThreads: n, Arrivals: "poisson", Basis: results.BasisCapacity, SafeRPS: s, SustainedRPS: &s, PredictedRPS: pred, Ratio: 0.94})
	}
	return p
}

func TestReportPlanGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		plan *results.Plan
	}{
		{"self", synthPlan([]string{"uniform", "poisson"}, true)},
		{"poisson", synthPlan([]string{"poisson"}, false)},
		{"split", synthSplit()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var table bytes.Buffer
			if err := PlanTable(&table, tt.plan); err != nil {
				t.Fatal(err)
			}
			golden(t, "plan-table-"+tt.name+".golden", table.Bytes())

			out := t.TempDir()
			files, err := WritePlan(out, tt.plan)
			if err != nil {
				t.Fatal(err)
			}
			if files.HTML != filepath.Join(out, PlanHTMLFile) || files.Markdown != filepath.Join(out, PlanMDFile) {
				t.Errorf("files = %+v", files)
			}
			md, _ := os.ReadFile(files.Markdown)
			golden(t, "plan-"+tt.name+".md.golden", md)
			html, _ := os.ReadFile(files.HTML)
			golden(t, "plan-"+tt.name+"-data.json.golden", dataBlob(t, html))
		})
	}
}

// The page leads with the answer: the safe-rate table, then the charts, then the explanation.
func TestReportPlanLeadsWithTheAnswer(t *testing.T) {
	t.Parallel()
	files, err := WritePlan(t.TempDir(), synthPlan([]string{"uniform", "poisson"}, true))
	if err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(files.HTML)
	md, _ := os.ReadFile(files.Markdown)
	for name, page := range map[string]string{"plan.html": string(html), "plan.md": string(md)} {
		var at []int
		for _, mark := range []string{"Safe rate per pool size: at most 1 % chance of a hang within 24 h", "workers needed", "Sizing alone cannot make", "How to read this plan", "Measured rates and Little's law"} {
			i := strings.Index(page, mark)
			if i < 0 {
				t.Errorf("%s lacks %q", name, mark)
			}
			at = append(at, i)
		}
		for i := 1; i < len(at); i++ {
			if at[i] < at[i-1] {
				t.Errorf("%s: section %d comes before section %d; want answer, peak, recommendation, explanation, details", name, i, i-1)
			}
		}
		if strings.Contains(page, "sustained rps 0.0") || !strings.Contains(page, "not measured") {
			t.Errorf("%s: a skipped SLO search must read \"not measured\"", name)
		}
	}
	if i, j := bytes.Index(html, []byte(`id="answer"`)), bytes.Index(html, []byte(`id="charts"`)); i < 0 || j < i {
		t.Errorf("plan.html: the charts (at %d) must follow the answer (at %d)", j, i)
	}
	if i, j := bytes.Index(md, []byte("plan-hazard.png")), bytes.Index(md, []byte("How to read this plan")); i < 0 || j < i {
		t.Errorf("plan.md: the hazard chart (at %d) must come before the explanation (at %d)", i, j)
	}
	// The status line is for the browser test: present, hidden.
	if !bytes.Contains(html, []byte(`<pre id="render-status" hidden>`)) {
		t.Error("plan.html: #render-status is not hidden")
	}
	for _, bad := range []string{" src=", "<link", "@import"} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("plan page loads something from outside (%q)", bad)
		}
	}
}

func TestReportPlanHazardChart(t *testing.T) {
	v := buildPlanView(synthPlan([]string{"uniform", "poisson"}, false))
	if len(v.Charts) != 2 || v.Charts[0].ID != "hazard" || v.Charts[1].ID != "capacity" {
		t.Fatalf("charts %+v: want the hazard curve, then the capacity per pool size", v.Charts)
	}
	c := v.Charts[0]
	if !c.YLog || !c.XLog {
		t.Errorf("hazard chart: y log %v, x log %v; want both (rates of 8 to 32 workers span a factor of 20)", c.YLog, c.XLog)
	}
	var names []string
	for _, s := range c.Series {
		names = append(names, s.Name)
		for i := 1; i < len(s.X); i++ {
			if s.X[i] <= s.X[i-1] {
				t.Errorf("%s: rates not ascending: %v", s.Name, s.X)
			}
		}
	}
	if want := "8 workers|16 workers|32 workers|safe rate|budget: 1 % in 24 h"; strings.Join(names, "|") != want {
		t.Errorf("series %q, want %q", names, want)
	}
	budget := c.Series[len(c.Series)-1]
	if math.Abs(float64(budget.Y[0])-4.188e-4) > 1e-7 || budget.Y[0] != budget.Y[1] {
		t.Errorf("budget line %v: want flat at -ln(0.99)/24 per hour", budget.Y)
	}
	if s := c.Series[0]; len(s.Lo) != len(s.X) || len(s.Hi) != len(s.X) || !(s.Lo[0] < s.Y[0] && s.Y[0] < s.Hi[0]) {
		t.Errorf("8 workers: intervals %v %v around %v", s.Lo, s.Hi, s.Y)
	}
	// A hazard of 0 cannot sit on a log scale: it becomes a gap (null), not 0.
	blob, _ := json.Marshal(planSeries{X: []sig{1}, Y: []sig{positive(0)}})
	if !bytes.Contains(blob, []byte(`"y":[null]`)) {
		t.Errorf("zero hazard marshals as %s", blob)
	}
	blob, _ = json.Marshal([]sig{4.1876e-4, 1234.5678, 16})
	if string(blob) != "[0.0004188,1235,16]" {
		t.Errorf("sig marshals as %s, want 4 significant digits", blob)
	}

	// One pool size: no capacity curve (a single point says nothing); split: no hazard chart.
	one := synthPlan([]string{"poisson"}, false)
	one.Rows, one.Curves = one.Rows[:1], one.Curves[:1]
	if v := buildPlanView(one); len(v.Charts) != 1 || v.Charts[0].ID != "hazard" || v.Charts[0].XLog {
		t.Errorf("one pool size: charts %+v", v.Charts)
	}
	if v := buildPlanView(synthSplit()); len(v.Charts) != 1 || v.Charts[0].ID != "capacity" {
		t.Errorf("split: charts %+v", v.Charts)
	}
}

func TestReportPlanCells(t *testing.T) {
	p := synthPlan([]string{"uniform", "poisson"}, true)
	v := buildPlanView(p)
	// Rows sorted by pool size then arrivals: 8 poisson, 8 uniform, 16 ...
	if got := strings.Join(v.Answer.Rows[0][:3], "|"); got != "8|poisson|7.8" {
		t.Errorf("first answer row %q: want 8 workers, poisson, the safe rate rounded down", got)
	}
	if got := v.Answer.Rows[1]; got[1] != "uniform (best case)" || got[3] != "0 below the threshold (model)" || got[5] != "threshold (best case)" {
		t.Errorf("uniform row %q: want it marked a best case", got)
	}
	if got := v.Answer.Rows[0][4]; got != "129 days (at worst 100 days)" {
		t.Errorf("one hang in %q", got)
	}
	if got := v.Details.Rows[2][2]; got != notMeasured {
		t.Errorf("16 workers, poisson: SLO rate %q, want %q", got, notMeasured)
	}
	if got := v.Peak.Rows[0]; got[2] != "30" || !strings.HasPrefix(got[3], "3.1e-4 (2.2e-4–4e-4)") {
		t.Errorf("peak row %q", got)
	}
	if got := v.Verify.Rows[0]; got[2] != "60 s (45 s to 80 s)" || got[4] != "hung after 48 s" {
		t.Errorf("verify row %q", got)
	}
	if _, err := WritePlan(t.TempDir(), nil); err == nil {
		t.Error("WritePlan(nil): no error")
	}
}
