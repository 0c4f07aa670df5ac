package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simdev/sim/results"
)

// TestRunEngineModel: `sim run --engine model` simulates the quick profile instead of running
// it, writes a record marked as the model's, and `sim report` renders it.
func TestRunEngineModel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "runs")
	code, stdout, stderr := simRun(t, nil, "run", "--engine", "model", "--topology", "self", "--profile", "quick", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}
	var sum results.Summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout)
	}
	if sum.Engine != results.EngineModel || sum.Verdict != results.VerdictHang || sum.ServePID != 0 {
		t.Errorf("engine %q, verdict %q, serve pid %d: want the model's hang and no server started", sum.Engine, sum.Verdict, sum.ServePID)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*-self"))
	if len(dirs) != 1 {
		t.Fatalf("records %v", dirs)
	}
	code, stdout, stderr = simRun(t, nil, "run", "--engine", "model", "--topology", "split", "--profile", "quick", "--out", out)
	if code != 0 || !strings.Contains(stdout, "profile quick (model): SATURATED at") {
		t.Errorf("text summary: exit %d, stdout %q, stderr %q; want it marked (model)", code, stdout, stderr)
	}
	if code, _, stderr := simRun(t, nil, "report", dirs[0]); code != 0 {
		t.Errorf("report of a model record: exit %d, %s", code, stderr)
	}
}

// TestCompareEngineModel: `sim compare --engine model` runs both topologies in the model.
func TestCompareEngineModel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "runs")
	code, stdout, stderr := simRun(t, nil, "compare", "--engine", "model", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}
	var sums []results.Summary
	if err := json.Unmarshal([]byte(stdout), &sums); err != nil {
		t.Fatalf("summaries: %v\n%s", err, stdout)
	}
	if len(sums) != 2 || sums[0].Engine != results.EngineModel || sums[1].Engine != results.EngineModel ||
		sums[0].Verdict != results.VerdictHang || sums[1].Hang {
		t.Errorf("want self hung and split not, both by the model; got %+v", sums)
	}
}

func TestBadEngine(t *testing.T) {
	runBadInputCases(t, []badInputCase{
		{name: "run", args: []string{"run", "--engine", "tomcat"}, field: "--engine", value: "tomcat"},
		{name: "compare", args: []string{"compare", "--engine", "Model"}, field: "--engine", value: "Model"},
		{name: "model in external mode", args: []string{"run", "--engine", "model", "--target", "http://127.0.0.1:9/page"}, field: "--engine", value: "model"},
	})
}
