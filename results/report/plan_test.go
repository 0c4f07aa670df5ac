package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simdev/sim/results"
)

// synthPlan is a fixed self plan over three pool sizes, with uniform and Poisson arrivals when
// poisson is set. Rates follow the model (work_time 200 ms + self-call 5 ms) with the ratios a
// real plan shows: Poisson bursts deadlock earlier than evenly paced load.
func synthPlan(poisson bool) *results.Plan {
	p := &results.Plan{
		SchemaVersion: results.PlanSchemaVersion, Topology: "self", WorkTimeS: 0.2, SelfCallS: 0.005,
		SLO:            results.SLO{P99MS: 1000, ErrorRate: 0.01},
		Search:         "bisection between 2 and 400 rps, 8 steps of 6 s",
		Recommendation: "With max_threads 16 keep self below 55 rps: it deadlocks from 74 rps with evenly paced load and from 60 rps with Poisson arrivals. Serving the static file from a separate server (split) removes the deadlock.",
		StartedAt:      "2026-11-25T14:00:00Z", FinishedAt: "2026-11-25T14:24:00Z",
	}
	arrivals := []string{"uniform"}
	if poisson {
		arrivals = append(arrivals, "poisson")
	}
	// Listed out of order on purpose: the report sorts by pool size, then arrivals.
	for _, threads := range []int{32, 8, 16} {
		for _, a := range arrivals {
			pred := float64(threads) / 0.205
			ratio := 0.95
			if a == "poisson" {
				ratio = 0.78
			}
			dl := pred * ratio
			row := results.PlanRow{
				MaxThreads: threads, Arrivals: a, SustainedRPS: dl * 0.92, DeadlockRPS: &dl,
				PredictedRPS: pred, Ratio: ratio, SafeRPS: dl * 0.75,
			}
			if threads == 8 {
				row.Steps = []results.PlanStep{
					{RateRPS: 20, P99MS: 203, ErrorRate: 0, MeetsSLO: true, Record: "steps/t8-" + a + "-20"},
					{RateRPS: dl, P99MS: 1001, ErrorRate: 0.61, Hang: true, OnsetRPS: &dl, Record: "steps/t8-" + a + "-hang"},
				}
			}
			p.Rows = append(p.Rows, row)
		}
	}
	return p
}

func TestReportPlanGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		poisson bool
	}{{"uniform", false}, {"poisson", true}} {
		t.Run(tt.name, func(t *testing.T) {
			p := synthPlan(tt.poisson)
			var table bytes.Buffer
			if err := PlanTable(&table, p); err != nil {
				t.Fatal(err)
			}
			golden(t, "plan-table-"+tt.name+".golden", table.Bytes())

			out := t.TempDir()
			files, err := WritePlan(out, p)
			if err != nil {
				t.Fatal(err)
			}
			if files.HTML != filepath.Join(out, PlanHTMLFile) || files.Markdown != filepath.Join(out, PlanMDFile) ||
				len(files.Charts) != 1 || files.Charts[0] != filepath.Join(out, filepath.FromSlash(PlanChartFile)) {
				t.Errorf("files = %+v", files)
			}
			md, _ := os.ReadFile(files.Markdown)
			golden(t, "plan-"+tt.name+".md.golden", md)
			html, _ := os.ReadFile(files.HTML)
			golden(t, "plan-"+tt.name+"-data.json.golden", dataBlob(t, html))
		})
	}
}

func TestReportPlanSeries(t *testing.T) {
	// One arrival process: sustained, deadlock, predicted. Two: sustained and deadlock per
	// process, named by it, and one predicted curve.
	for _, tt := range []struct {
		poisson bool
		want    []string
	}{
		{false, []string{"sustained", "deadlock", "predicted (model)"}},
		{true, []string{"sustained (poisson)", "deadlock (poisson)", "sustained (uniform)", "deadlock (uniform)", "predicted (model)"}},
	} {
		v := buildPlanView(synthPlan(tt.poisson))
		var got []string
		for _, s := range v.Chart.Series {
			got = append(got, s.Name)
			for i := 1; i < len(s.X); i++ {
				if s.X[i] <= s.X[i-1] {
					t.Errorf("%s: pool sizes not ascending: %v", s.Name, s.X)
				}
			}
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("series = %q, want %q", got, tt.want)
		}
	}
}

func TestReportPlanHTML(t *testing.T) {
	t.Parallel()
	files, err := WritePlan(t.TempDir(), synthPlan(true))
	if err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(files.HTML)
	page := string(html)
	for _, bad := range []string{" src=", "<link", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("plan page loads something from outside (%q)", bad)
		}
	}
	for _, want := range []string{"Recommendation", "deadlocks from 74 rps", "measured/predicted", `id="render-status"`} {
		if !strings.Contains(page, want) {
			t.Errorf("plan page lacks %q", want)
		}
	}
	var v planView
	if err := json.Unmarshal(blobRE.FindSubmatch(html)[1], &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Rows) != 6 {
		t.Errorf("%d rows, want 6", len(v.Rows))
	}
	if _, err := WritePlan(t.TempDir(), nil); err == nil {
		t.Error("WritePlan(nil): no error")
	}
}
