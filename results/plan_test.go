package results

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simdev/sim/internal/invalid"
)

func TestReadPlanVersions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, PlanFile), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	good := write("good", `{"schema_version": 2, "topology": "self", "horizon_s": 86400, "risk": 0.01,
		"rows": [{"max_threads": 16, "arrivals": "poisson", "basis": "risk", "safe_rps": 9.9, "hazard_per_hour": 3e-6, "sustained_rps": null}]}`)
	p, err := ReadPlan(good)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Rows[0]; r.SafeRPS != 9.9 || r.HazardPerHour == nil || *r.HazardPerHour != 3e-6 || r.SustainedRPS != nil || p.HorizonS != 86400 {
		t.Errorf("read %+v", p)
	}

	for _, tt := range []struct {
		name, data string
		want       []string
	}{
		// A version 1 plan's safe rate was a margin under a measured deadlock rate: refused, with why.
		{"v1", `{"schema_version": 1, "topology": "self", "rows": [{"max_threads": 16, "safe_rps": 24, "sustained_rps": 30}]}`,
			[]string{"schema_version: 1 is not allowed", "older sim", "70 %", "run sim plan again"}},
		{"v7", `{"schema_version": 7}`, []string{"schema_version: 7 is not allowed", "newer sim"}},
		{"none", `{"topology": "self"}`, []string{"schema_version", "written by sim plan"}},
		{"not json", `safe_rps: 24`, []string{PlanFile, "a plan written by sim plan"}},
		{"wrong type", `{"schema_version": 2, "rows": [{"safe_rps": "fast"}]}`, []string{PlanFile, "a plan written by sim plan"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPlan(write(tt.name, tt.data))
			if !invalid.Is(err) {
				t.Fatalf("err %v: want a user's mistake (exit 2)", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}

	// Not a regular file, and too big: refused without reading it all.
	notFile := filepath.Join(dir, "dir")
	os.MkdirAll(filepath.Join(notFile, PlanFile), 0o755)
	if _, err := ReadPlan(notFile); !invalid.Is(err) {
		t.Errorf("plan.json a folder: err %v", err)
	}
	big := write("big", `{"schema_version": 2, "search": "`+strings.Repeat("x", maxPlanSize)+`"}`)
	if _, err := ReadPlan(big); !invalid.Is(err) {
		t.Errorf("oversized plan: err %v", err)
	}
	if _, err := ReadPlan(filepath.Join(dir, "missing")); !invalid.Is(err) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing plan: err %v, want the user's mistake, wrapping fs.ErrNotExist", err)
	}
}

func TestBudgetPerHour(t *testing.T) {
	// 1 % in a day: -ln(0.99) / 24 = 4.1876e-4 per hour; at that hazard the chance of a hang in
	// a day is the risk again.
	b := BudgetPerHour(86400, 0.01)
	if math.Abs(b-4.18764e-4) > 1e-9 {
		t.Errorf("budget %.6g, want 4.18764e-4", b)
	}
	if p := HangProbability(b, 86400); math.Abs(p-0.01) > 1e-12 {
		t.Errorf("P(hang in a day) at the budget = %.15g, want 0.01", p)
	}
	if p := HangProbability(60, 300); math.Abs(p-(1-math.Exp(-5))) > 1e-12 {
		t.Errorf("P(hang in 5 min) at 60 an hour = %v", p)
	}
}

func TestPlanTextHelpers(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0", 60: "60", 0.42: "0.42", 4.1876e-4: "4.2e-4", 1e-6: "1e-6", 12345: "1.2e4", 3.06e-6: "3.1e-6", math.NaN(): "–",
	} {
		if got := FormatHazard(in); got != want {
			t.Errorf("FormatHazard(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{
		4.1876e-4: "about 100 days", 60: "about 1 minute", 3600: "about 1 second", 1: "about 1 hour", 0.5: "about 2 hours",
		1.0 / 24: "about 24 hours", 3.06e-6: "about 37 years", 0.02: "about 2.1 days", 0.01: "about 4.2 days", 0: "never",
		100: "about 36 seconds", 2: "about 30 minutes",
	} {
		if got := HangEvery(in); got != want {
			t.Errorf("HangEvery(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{
		86400: "24 h", 7 * 86400: "7 days", 365 * 86400: "1 year", 30 * 60: "30 min", 90: "1.5 min", 3600: "1 h", 36 * 3600: "36 h",
	} {
		if got := HorizonText(in); got != want {
			t.Errorf("HorizonText(%v) = %q, want %q", in, got, want)
		}
	}
}
