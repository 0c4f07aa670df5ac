package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simdev/sim/results"
	"github.com/simdev/sim/results/report"
)

// sim report never writes through a symbolic link inside the folder it writes to: a record
// whose charts/ or report.html is a link (made by someone else, or unpacked from an archive)
// is refused with exit 2 naming the link, before any file is written; the link and what it
// points to stay as they were.
func TestReportRefusesLinks(t *testing.T) {
	tests := []struct {
		name string
		link string // inside the record
		to   func(elsewhere string) string
	}{
		{"charts folder", report.ChartsDir, func(e string) string { return e }},
		{"report file", report.HTMLFile, func(e string) string { return filepath.Join(e, "victim") }},
		{"markdown file, dangling", report.MarkdownFile, func(e string) string { return filepath.Join(e, "new.md") }},
		{"one chart", filepath.Join(report.ChartsDir, "sockets.png"), func(e string) string { return filepath.Join(e, "victim") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, elsewhere := filepath.Join(t.TempDir(), "rec"), t.TempDir()
			writeRecord(t, rec, "self")
			victim := writeFile(t, elsewhere, "victim", "keep me")
			os.MkdirAll(filepath.Dir(filepath.Join(rec, tt.link)), 0o755)
			if err := os.Symlink(tt.to(elsewhere), filepath.Join(rec, tt.link)); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadDir(rec)
			code, _, stderr := simReport(t, rec)
			if code != exitBadInput {
				t.Fatalf("exit %d, want 2: %s", code, stderr)
			}
			mustContain(t, "message", stderr, filepath.Join(rec, tt.link), "symbolic link")
			if data, _ := os.ReadFile(victim); string(data) != "keep me" {
				t.Errorf("the link's target was changed: %q", data)
			}
			if left, _ := os.ReadDir(elsewhere); len(left) != 1 {
				t.Errorf("files written behind the link: %v", names(left))
			}
			if fi, err := os.Lstat(filepath.Join(rec, tt.link)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link was replaced: %v %v", fi, err)
			}
			// Refused before anything was written: no report.md beside a missing report.html.
			after, _ := os.ReadDir(rec)
			if len(after) != len(before) {
				t.Errorf("the record went from %v to %v", names(before), names(after))
			}
			for _, e := range after {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temp file left: %s", e.Name())
				}
			}
		})
	}
	t.Run("plan charts folder", func(t *testing.T) {
		plan, elsewhere := t.TempDir(), t.TempDir()
		writeFile(t, plan, planFile, fmt.Sprintf(`{"schema_version": %d, "topology": "self", "work_time_s": 0.2,
			"rows": [{"max_threads": 16, "arrivals": "uniform", "predicted_rps": 78}]}`, results.PlanSchemaVersion))
		if err := os.Symlink(elsewhere, filepath.Join(plan, report.ChartsDir)); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := simReport(t, plan)
		if code != exitBadInput {
			t.Fatalf("exit %d, want 2: %s", code, stderr)
		}
		mustContain(t, "message", stderr, filepath.Join(plan, report.ChartsDir), "symbolic link")
		if left, _ := os.ReadDir(elsewhere); len(left) != 0 {
			t.Errorf("files written behind the link: %v", names(left))
		}
	})
	// The folder given may itself be a link (runs/latest -> runs/20261201-...): that is the
	// user's choice, and the report goes where it points.
	t.Run("the record folder is a link", func(t *testing.T) {
		base := t.TempDir()
		rec := filepath.Join(base, "20261201-120000-self")
		writeRecord(t, rec, "self")
		latest := filepath.Join(base, "latest")
		if err := os.Symlink(rec, latest); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := simReport(t, latest); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !fileExists(filepath.Join(rec, report.HTMLFile)) {
			t.Error("no report.html in the record")
		}
	})
}
