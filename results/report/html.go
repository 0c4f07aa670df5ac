package report

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"strings"
)

// UPlotVersion is the version of the vendored uPlot (assets/README.md).
const UPlotVersion = "1.6.32"

//go:embed assets/uPlot.iife.min.js assets/uPlot.min.css assets/uPlot.LICENSE templates
var embedded embed.FS

// page is what the HTML templates get: the view, and the inlined assets.
type page struct {
	Title    string
	Subtitle string
	Notes    []string
	// Data is the view as JSON, inlined in a <script type="application/json">. encoding/json
	// escapes <, > and &, so no string in it can close the script element.
	Data     template.JS
	UPlotJS  template.JS
	UPlotCSS template.CSS
	CSS      template.CSS
	Prelude  template.JS
	JS       template.JS
	// UPlotVersion is shown in the page's footer and generator tag.
	UPlotVersion string
	// Run report.
	Runs        []runView
	Rows        []htmlRow
	Definitions []definition
	// Matrix is the comparison of several runs, nil for one; MatrixRules is said under it.
	Matrix      *matrix
	MatrixRules string
	// Plan report.
	Plan *planView
}

// htmlRow is one metric of the verdict table.
type htmlRow struct {
	Name  string
	Cells []htmlCell
}

type htmlCell struct {
	Text  string
	Class string
}

// renderHTML renders report.html.
func renderHTML(v view) ([]byte, error) {
	p, err := newPage(v.Title, v, "report.js")
	if err != nil {
		return nil, err
	}
	p.Subtitle = runSubtitle(v)
	p.Notes = v.Notes
	p.Runs = v.Runs
	p.Definitions = v.Definitions
	p.Matrix, p.MatrixRules = v.Matrix, matrixRules
	for _, m := range metrics {
		row := htmlRow{Name: m.Name}
		for _, r := range v.Runs {
			c := htmlCell{Text: m.Get(r.Cells)}
			if m.Name == "verdict" {
				c.Class = "verdict v-" + strings.ToLower(r.Verdict)
			}
			row.Cells = append(row.Cells, c)
		}
		p.Rows = append(p.Rows, row)
	}
	return execute("report.html.tmpl", p)
}

func runSubtitle(v view) string {
	var tops []string
	for _, r := range v.Runs {
		tops = append(tops, r.Label)
	}
	s := "runs: " + strings.Join(tops, ", ")
	return s + " · every chart: " + v.XLabel + " · rendered by sim report with uPlot " + UPlotVersion
}

// newPage fills the parts every page shares: the data blob and the inlined assets.
func newPage(title string, data any, script string) (*page, error) {
	blob, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	p := &page{Title: title, Data: template.JS(blob), UPlotVersion: UPlotVersion}
	for _, a := range []struct {
		name string
		dst  *string
	}{
		{"assets/uPlot.iife.min.js", (*string)(&p.UPlotJS)},
		{"assets/uPlot.min.css", (*string)(&p.UPlotCSS)},
		{"templates/page.css", (*string)(&p.CSS)},
		{"templates/prelude.js", (*string)(&p.Prelude)},
		{"templates/common.js", (*string)(&p.JS)},
	} {
		b, err := embedded.ReadFile(a.name)
		if err != nil {
			return nil, err
		}
		*a.dst = string(b)
	}
	// The MIT license asks for its notice in every copy, and each page is one.
	lic, err := embedded.ReadFile("assets/uPlot.LICENSE")
	if err != nil {
		return nil, err
	}
	p.UPlotJS = template.JS("/* uPlot "+UPlotVersion+", inlined from the npm package uplot.\n"+string(lic)+"*/\n") + p.UPlotJS
	// common.js defines what the page's own script uses, so it comes first in one <script>.
	own, err := embedded.ReadFile("templates/" + script)
	if err != nil {
		return nil, err
	}
	p.JS += "\n" + template.JS(own)
	return p, nil
}

func execute(name string, p *page) ([]byte, error) {
	t, err := template.New(name).ParseFS(embedded, "templates/"+name, "templates/common.tmpl")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
