// Package report renders run records and capacity plans for people: a self-contained HTML page
// with interactive charts, a Markdown report with static chart images for a code host, and a
// side-by-side table for the terminal.
//
// The HTML page opens offline, from file://: the chart library (uPlot, vendored under assets/,
// see assets/README.md) and the data (an inline JSON blob, the same for every chart) are inlined,
// and a Content-Security-Policy forbids fetching anything.
//
// The static images for report.md are drawn with gonum.org/v1/plot rather than hand-written
// SVG: the charts need nice tick placement, legends, dashed series and labelled markers, which
// gonum/plot does well and which would be a small plotting library of our own to get right;
// it is maintained with gonum and renders PNG, which every code host shows inline.
//
// Every rendering is deterministic for the same records and options (no clock, sorted maps), so
// reports can be golden-tested and diffed.
package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/simdev/sim/results"
)

// Files a report writes, relative to its folder.
const (
	HTMLFile     = "report.html"
	MarkdownFile = "report.md"
	ChartsDir    = "charts"
	PlanHTMLFile = "plan.html"
	PlanMDFile   = "plan.md"
)

// Options are the parts of a report that do not come from the records.
type Options struct {
	// Title heads the report; empty gives "sim compare: self vs split, profile quick" (or
	// "sim run: ..." for one record).
	Title string
	// Notes are paragraphs shown under the title, in plain text.
	Notes []string
}

// Files are the paths of what a report wrote.
type Files struct {
	HTML     string
	Markdown string
	// Charts are the static chart images that the Markdown report embeds.
	Charts []string
}

// Paths lists every written file: the HTML, the Markdown, then the charts.
func (f Files) Paths() []string {
	var ps []string
	for _, p := range append([]string{f.HTML, f.Markdown}, f.Charts...) {
		if p != "" {
			ps = append(ps, p)
		}
	}
	return ps
}

// Write renders recs, in the order given, into dir: report.html, report.md and the chart
// images under dir/charts/. Everything is rendered in memory first and then each file is
// written to a temp file and renamed into place, charts before the reports that refer to them,
// so a failure or a crash never leaves a half-written report. Records are shown by topology;
// config.json is read from each record's folder.
func Write(dir string, recs []*results.Record, o Options) (Files, error) {
	if len(recs) == 0 {
		return Files{}, errors.New("write report: no records")
	}
	for i, r := range recs {
		if r == nil {
			return Files{}, fmt.Errorf("write report: record %d is nil", i)
		}
	}
	// A folder that cannot be made fails before the charts are drawn, the slow part.
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return Files{}, fmt.Errorf("write report: %w", err)
	}
	if err := results.RefuseLinks(dir, ChartsDir, MarkdownFile, HTMLFile); err != nil {
		return Files{}, fmt.Errorf("write report: %w", err)
	}
	v := buildView(dir, recs, o)
	charts, err := renderRunCharts(v)
	if err != nil {
		return Files{}, fmt.Errorf("write report: %w", err)
	}
	md := renderMarkdown(v, charts)
	html, err := renderHTML(v)
	if err != nil {
		return Files{}, fmt.Errorf("write report: %w", err)
	}
	var outs []output
	for _, c := range charts {
		outs = append(outs, output{name: c.file, data: c.png})
	}
	outs = append(outs, output{MarkdownFile, md}, output{HTMLFile, html})
	paths, err := writeAll(dir, outs)
	if err != nil {
		return Files{}, fmt.Errorf("write report: %w", err)
	}
	n := len(charts)
	return Files{HTML: paths[n+1], Markdown: paths[n], Charts: paths[:n]}, nil
}

// output is one file of a report, its name relative to the report's folder.
type output struct {
	name string
	data []byte
}

const (
	dirPerm  = 0o755
	filePerm = 0o644
)

// writeAll writes the outputs in order, each atomically, and returns their paths.
func writeAll(dir string, outs []output) ([]string, error) {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, err
	}
	// A link in the way is refused before any file is written, not after the charts.
	var names []string
	for _, o := range outs {
		names = append(names, filepath.FromSlash(o.name))
	}
	if err := results.RefuseLinks(dir, names...); err != nil {
		return nil, err
	}
	paths := make([]string, len(outs))
	for i, o := range outs {
		paths[i] = filepath.Join(dir, filepath.FromSlash(o.name))
		if err := results.WriteFileAtomic(dir, filepath.FromSlash(o.name), o.data); err != nil {
			return nil, err
		}
	}
	return paths, nil
}
