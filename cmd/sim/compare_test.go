package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/results/report"
)

// matrixRowRE finds a row of the comparison matrix in report.html, by topology.
var matrixRowRE = regexp.MustCompile(`<tr class="matrix-row" data-topology="([^"]+)">`)

// TestCompareAllTopologies: `sim compare --topologies all` on the model runs every registered
// topology into a folder of its own, says where it is as each run starts and ends, and renders
// the matrix, a row per topology in the registry's order, in report.md and report.html. It
// checks the structure, not the verdicts: those are the engines' to get right.
func TestCompareAllTopologies(t *testing.T) {
	out := filepath.Join(t.TempDir(), "runs")
	code, stdout, stderr := simRun(t, nil, "compare", "--topologies", "all", "--engine", "model", "--profile", "quick", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	names := topology.Names()
	if len(names) < 8 {
		t.Errorf("the registry has %d topologies, issue 11 names 8", len(names))
	}
	cmp, _ := filepath.Glob(filepath.Join(out, "*-compare"))
	if len(cmp) != 1 {
		t.Fatalf("comparison folders: %v", cmp)
	}
	for i, top := range names {
		rec, err := results.Read(filepath.Join(cmp[0], top))
		if err != nil {
			t.Errorf("record of %s: %v", top, err)
			continue
		}
		if rec.Summary.Topology != top || rec.Summary.Engine != results.EngineModel || !rec.Summary.Complete {
			t.Errorf("%s/summary.json: topology %q, engine %q, complete %v", top, rec.Summary.Topology, rec.Summary.Engine, rec.Summary.Complete)
		}
		// One line as the run starts, one with its verdict as it ends.
		step := fmt.Sprintf("[%d/%d] %s: ", i+1, len(names), top)
		lines := 0
		for _, l := range strings.Split(stderr, "\n") {
			if strings.HasPrefix(l, step) {
				lines++
			}
		}
		if lines != 2 || !strings.Contains(stderr, step+rec.Summary.VerdictLine()+" (") {
			t.Errorf("progress of %s: %d lines starting %q, want 2, the last with its verdict %q:\n%s", top, lines, step, rec.Summary.VerdictLine(), stderr)
		}
	}

	md := readFile(t, filepath.Join(cmp[0], report.MarkdownFile))
	section := md[strings.Index(md, "## Comparison"):]
	section = section[:strings.Index(section, "\n\n## ")]
	var rows []string
	for _, l := range strings.Split(section, "\n") {
		if strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "| topology |") && !strings.HasPrefix(l, "| --- |") {
			rows = append(rows, strings.TrimSpace(strings.SplitN(l, "|", 3)[1]))
		}
	}
	var labels []string
	for _, n := range names {
		labels = append(labels, topology.Label(n))
	}
	if !slices.Equal(rows, labels) {
		t.Errorf("matrix rows in report.md: %q, want %q", rows, labels)
	}
	if !strings.Contains(section, "**") {
		t.Errorf("no best value marked in report.md's matrix:\n%s", section)
	}

	html := readFile(t, filepath.Join(cmp[0], report.HTMLFile))
	var tops []string
	for _, m := range matrixRowRE.FindAllStringSubmatch(html, -1) {
		tops = append(tops, m[1])
	}
	if !slices.Equal(tops, names) {
		t.Errorf("matrix rows in report.html: %v, want %v", tops, names)
	}
	if !strings.Contains(html, `class="best-mark"`) {
		t.Error("no best value marked in report.html's matrix")
	}

	// More topologies than fit side by side: the terminal gets the matrix, a row each.
	for _, l := range labels {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(l) + `\s{3,}\S`).MatchString(stdout) {
			t.Errorf("stdout has no matrix row for %q:\n%s", l, stdout)
		}
	}

	// sim report of the comparison folder renders the same rows, in the same order.
	if code, _, stderr := simRun(t, nil, "report", cmp[0]); code != 0 {
		t.Fatalf("sim report: exit %d: %s", code, stderr)
	}
	tops = tops[:0]
	for _, m := range matrixRowRE.FindAllStringSubmatch(readFile(t, filepath.Join(cmp[0], report.HTMLFile)), -1) {
		tops = append(tops, m[1])
	}
	if !slices.Equal(tops, names) {
		t.Errorf("sim report of the folder: matrix rows %v, want %v (the registry's order, not the folders')", tops, names)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCompareTopologiesFlag: --topologies takes all (every registered topology, in order) or a
// list; a bad one is an *invalid.Error that names the flag, the value and every allowed name.
func TestCompareTopologiesFlag(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   []string
	}{
		{[]string{"all"}, topology.Names()},
		{[]string{" all "}, topology.Names()},
		{[]string{"self", "split"}, []string{"self", "split"}},
		{[]string{"inproc,self"}, []string{"inproc", "self"}},
		{[]string{"bulkhead", "async,admission-limit"}, []string{"bulkhead", "async", "admission-limit"}},
	} {
		got, err := parseTopologies("--topologies", tt.values)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%q: %v, %v; want %v", tt.values, got, err, tt.want)
		}
	}
	_, err := parseTopologies("--topologies", []string{"self", "ring"})
	var ie *invalid.Error
	if !errors.As(err, &ie) || ie.Field != "--topologies" || ie.Value != "self,ring" {
		t.Fatalf("err = %#v, want an *invalid.Error for --topologies naming self,ring", err)
	}
	for _, name := range append(topology.Names(), "all", `"ring"`) {
		if !strings.Contains(ie.Allowed, name) {
			t.Errorf("allowed %q does not name %s", ie.Allowed, name)
		}
	}
	for _, name := range topology.Names() {
		if err := checkTopology("--topology", name); err != nil {
			t.Errorf("checkTopology(%s): %v", name, err)
		}
	}
}
