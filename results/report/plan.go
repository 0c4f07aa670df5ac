package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/simdev/sim/results"
)

// PlanChartFile is the plan's static capacity chart, relative to its folder.
const PlanChartFile = ChartsDir + "/plan-capacity.png"

// planView is everything a plan report shows; its JSON is plan.html's data blob.
type planView struct {
	Title          string    `json:"title"`
	Summary        string    `json:"summary"`
	Search         string    `json:"search,omitempty"`
	Recommendation string    `json:"recommendation"`
	Columns        []string  `json:"columns"`
	Rows           []planRow `json:"rows"`
	Chart          planChart `json:"chart"`
	Model          string    `json:"model"`
}

// planRow is one row of the plan table, as text, with its measured steps.
type planRow struct {
	Cells []string   `json:"cells"`
	Steps []planStep `json:"steps,omitempty"`
}

type planStep struct {
	Rate     string `json:"rate_rps"`
	P99      string `json:"p99_ms"`
	Errors   string `json:"error_rate"`
	MeetsSLO bool   `json:"meets_slo"`
	Hang     bool   `json:"hang"`
	Record   string `json:"record,omitempty"`
}

// planChart is the capacity curve: x is the pool size, each series one curve with its own
// points (series of different arrival processes need not share pool sizes).
type planChart struct {
	Title   string       `json:"title"`
	Caption string       `json:"caption"`
	XLabel  string       `json:"x_label"`
	YLabel  string       `json:"y_label"`
	Series  []planSeries `json:"series"`
}

type planSeries struct {
	Name  string    `json:"name"`
	Color string    `json:"color"`
	Width float64   `json:"width"`
	Dash  []float64 `json:"dash,omitempty"`
	X     []num     `json:"x"`
	Y     []num     `json:"y"`
}

var planColumns = []string{"pool size", "arrivals", "sustained rps", "deadlock rps", "predicted rps", "measured/predicted", "safe rps"}

// Colours of the capacity chart: one hue per arrival process, the model in black.
var arrivalColors = map[string]string{"uniform": "#1f77b4", "poisson": "#ff7f0e"}

const (
	modelColor    = "#222222"
	deadlockColor = "#d62728"
)

// sortedRows orders rows by pool size, then arrival process: the order of the table and of
// every curve's points.
func sortedRows(p *results.Plan) []results.PlanRow {
	rows := append([]results.PlanRow(nil), p.Rows...)
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].MaxThreads != rows[j].MaxThreads {
			return rows[i].MaxThreads < rows[j].MaxThreads
		}
		return rows[i].Arrivals < rows[j].Arrivals
	})
	return rows
}

func arrivalsOf(rows []results.PlanRow) []string {
	var as []string
	for _, r := range rows {
		if !slices.Contains(as, r.Arrivals) {
			as = append(as, r.Arrivals)
		}
	}
	sort.Strings(as)
	return as
}

func planCells(r results.PlanRow) []string {
	deadlock := "none"
	if r.DeadlockRPS != nil {
		deadlock = fmtRate(*r.DeadlockRPS)
	}
	ratio := "–"
	if r.PredictedRPS > 0 {
		ratio = strconv.FormatFloat(r.Ratio, 'f', 2, 64)
	}
	return []string{
		strconv.Itoa(r.MaxThreads), orDash(r.Arrivals), fmtRate(r.SustainedRPS), deadlock,
		fmtRate(r.PredictedRPS), ratio, fmtRate(r.SafeRPS),
	}
}

func buildPlanView(p *results.Plan) planView {
	rows := sortedRows(p)
	v := planView{
		Title:          "Capacity plan: " + orDash(p.Topology),
		Search:         p.Search,
		Recommendation: p.Recommendation,
		Columns:        planColumns,
	}
	v.Summary = fmt.Sprintf("Topology %s, work_time %s, measured self-call %s; SLO: p99 ≤ %s ms and errors ≤ %s.",
		orDash(p.Topology), fmtMS(p.WorkTimeS*1000)+" ms", fmtMS(p.SelfCallS*1000)+" ms", fmtMS(p.SLO.P99MS), fmtPercent(p.SLO.ErrorRate))
	if p.StartedAt != "" {
		v.Summary += " Planned " + p.StartedAt
		if p.FinishedAt != "" {
			v.Summary += " to " + p.FinishedAt
		}
		v.Summary += "."
	}
	v.Model = fmt.Sprintf("predicted rps = max_threads / (work_time + self-call time) = max_threads / %s ms (Little's law: "+
		"a page holds a worker for work_time plus its self-call, so the pool serves at most max_threads such holds at once). "+
		"measured/predicted compares the deadlock rate for self and the sustained rate otherwise. "+
		"Sustained: the highest rate that met the SLO; deadlock: the lowest offered rate at which the app hung (hang onset); "+
		"safe: the recommended rate for the pool size, with the plan's margin.",
		fmtMS((p.WorkTimeS+p.SelfCallS)*1000))
	for _, r := range rows {
		pr := planRow{Cells: planCells(r)}
		for _, s := range r.Steps {
			pr.Steps = append(pr.Steps, planStep{
				Rate: fmtRate(s.RateRPS), P99: fmtMS(s.P99MS), Errors: fmtPercent(s.ErrorRate),
				MeetsSLO: s.MeetsSLO, Hang: s.Hang, Record: s.Record,
			})
		}
		v.Rows = append(v.Rows, pr)
	}
	v.Chart = planCapacityChart(rows)
	return v
}

// planCapacityChart draws per arrival process the sustained rate (solid) and the deadlock rate
// (dashed, red when there is one arrival process), against the model's prediction (dotted).
func planCapacityChart(rows []results.PlanRow) planChart {
	c := planChart{
		Title:   "Capacity per pool size: measured vs predicted",
		Caption: "Sustained: highest rate within the SLO. Deadlock: lowest offered rate that hung. Predicted: max_threads / (work_time + self-call time).",
		XLabel:  "pool size (max_threads)",
		YLabel:  "requests/s",
	}
	arrivals := arrivalsOf(rows)
	multi := len(arrivals) > 1
	next := 0
	for _, a := range arrivals {
		col, ok := arrivalColors[a]
		if !ok || !multi {
			col = palette[next%len(palette)]
			if !multi {
				col = topologyColor["split"]
			}
			next++
		}
		name := func(what string) string {
			if multi {
				return what + " (" + orDash(a) + ")"
			}
			return what
		}
		sus := planSeries{Name: name("sustained"), Color: col, Width: 2.5}
		dl := planSeries{Name: name("deadlock"), Color: col, Width: 2, Dash: dashOffered}
		if !multi {
			dl.Color = deadlockColor
		}
		for _, r := range rows {
			if r.Arrivals != a {
				continue
			}
			sus.X = append(sus.X, num(r.MaxThreads))
			sus.Y = append(sus.Y, num(r.SustainedRPS))
			if r.DeadlockRPS != nil {
				dl.X = append(dl.X, num(r.MaxThreads))
				dl.Y = append(dl.Y, num(*r.DeadlockRPS))
			}
		}
		c.Series = append(c.Series, sus)
		if len(dl.X) > 0 {
			c.Series = append(c.Series, dl)
		}
	}
	// The prediction depends on the pool size only: one curve, over every pool size.
	pred := planSeries{Name: "predicted (model)", Color: modelColor, Width: 1.5, Dash: dashDotted}
	seen := map[int]bool{}
	for _, r := range rows {
		if seen[r.MaxThreads] {
			continue
		}
		seen[r.MaxThreads] = true
		pred.X = append(pred.X, num(r.MaxThreads))
		pred.Y = append(pred.Y, num(r.PredictedRPS))
	}
	c.Series = append(c.Series, pred)
	return c
}

// PlanTable writes the plan's table for a terminal (pool size, arrivals, sustained, deadlock
// and predicted rates, measured/predicted, safe rate) and its recommendation paragraph.
func PlanTable(w io.Writer, p *results.Plan) error {
	if p == nil {
		return errors.New("plan table: no plan")
	}
	tw := tabwriter.NewWriter(w, 0, 0, tableGap, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t\n", strings.Join(planColumns, "\t"))
	for _, r := range sortedRows(p) {
		fmt.Fprintf(tw, "%s\t\n", strings.Join(planCells(r), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.Recommendation != "" {
		_, err := fmt.Fprintf(w, "\n%s\n", wrap(p.Recommendation, wrapWidth))
		return err
	}
	return nil
}

// wrapWidth is the terminal width the recommendation is wrapped to.
const wrapWidth = 100

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(s) {
		if i > 0 {
			if n+1+len(word) > width {
				b.WriteByte('\n')
				n = 0
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// WritePlan renders p into dir: plan.html (self-contained, the capacity curve and the table),
// plan.md and charts/plan-capacity.png, each written atomically, the chart first.
func WritePlan(dir string, p *results.Plan) (Files, error) {
	if p == nil {
		return Files{}, errors.New("write plan: no plan")
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return Files{}, fmt.Errorf("write plan: %w", err)
	}
	v := buildPlanView(p)
	png, err := planPNG(v.Chart)
	if err != nil {
		return Files{}, fmt.Errorf("write plan: chart: %w", err)
	}
	md := renderPlanMarkdown(v)
	html, err := renderPlanHTML(v)
	if err != nil {
		return Files{}, fmt.Errorf("write plan: %w", err)
	}
	paths, err := writeAll(dir, []output{{PlanChartFile, png}, {PlanMDFile, md}, {PlanHTMLFile, html}})
	if err != nil {
		return Files{}, fmt.Errorf("write plan: %w", err)
	}
	return Files{HTML: paths[2], Markdown: paths[1], Charts: paths[:1]}, nil
}

func renderPlanMarkdown(v planView) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", mdText(v.Title), mdText(v.Summary))
	if v.Search != "" {
		fmt.Fprintf(&b, "Search: %s.\n\n", mdText(strings.TrimSuffix(v.Search, ".")))
	}
	fmt.Fprintf(&b, "Interactive chart: [%s](%s) (one self-contained file, opens offline).\n\n", PlanHTMLFile, PlanHTMLFile)
	if v.Recommendation != "" {
		fmt.Fprintf(&b, "## Recommendation\n\n%s\n\n", mdText(v.Recommendation))
	}
	b.WriteString("## Capacity per pool size\n\n|")
	for _, c := range v.Columns {
		fmt.Fprintf(&b, " %s |", c)
	}
	b.WriteString("\n|")
	for i := range v.Columns {
		if i < 2 {
			b.WriteString(" --- |")
		} else {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
	for _, r := range v.Rows {
		b.WriteString("|")
		for _, c := range r.Cells {
			fmt.Fprintf(&b, " %s |", mdCell(c))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n![%s](%s)\n\n%s\n\n", v.Chart.Title, PlanChartFile, mdText(v.Chart.Caption))
	fmt.Fprintf(&b, "## Model\n\n%s\n", mdText(v.Model))
	if hasSteps(v) {
		b.WriteString("\n## Steps\n")
		for _, r := range v.Rows {
			if len(r.Steps) == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n<details><summary>pool size %s, %s arrivals: %d steps</summary>\n\n", r.Cells[0], r.Cells[1], len(r.Steps))
			b.WriteString("| rate rps | p99 ms | errors | meets SLO | hang | record |\n| ---: | ---: | ---: | --- | --- | --- |\n")
			for _, s := range r.Steps {
				rec := "–"
				if s.Record != "" {
					rec = mdRecordLink(s.Record)
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", s.Rate, s.P99, s.Errors, yesNo(s.MeetsSLO), yesNo(s.Hang), rec)
			}
			b.WriteString("\n</details>\n")
		}
	}
	return b.Bytes()
}

func hasSteps(v planView) bool {
	for _, r := range v.Rows {
		if len(r.Steps) > 0 {
			return true
		}
	}
	return false
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func renderPlanHTML(v planView) ([]byte, error) {
	p, err := newPage(v.Title, v, "plan.js")
	if err != nil {
		return nil, err
	}
	p.Subtitle = v.Summary
	p.Plan = &v
	return execute("plan.html.tmpl", p)
}

// planPNG draws the capacity curve with a point at every measured pool size.
func planPNG(c planChart) ([]byte, error) {
	p := newPlot(c.Title, c.XLabel, c.YLabel)
	xmax, ymax := 0.0, 0.0
	for _, s := range c.Series {
		var xys plotter.XYs
		for i := range s.X {
			xys = append(xys, plotter.XY{X: float64(s.X[i]), Y: float64(s.Y[i])})
			xmax, ymax = math.Max(xmax, float64(s.X[i])), math.Max(ymax, float64(s.Y[i]))
		}
		if len(xys) == 0 {
			continue
		}
		line, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		col := hexColor(s.Color)
		line.Color, line.Width, line.Dashes = col, vg.Points(s.Width), points(s.Dash)
		pts.Color, pts.Radius, pts.Shape = col, vg.Points(3), draw.CircleGlyph{}
		p.Add(line, pts)
		p.Legend.Add(s.Name, line, pts)
	}
	p.X.Min, p.X.Max = 0, math.Max(xmax, 1)*1.05
	p.Y.Min, p.Y.Max = 0, math.Max(ymax, 1)*1.15
	return pngBytes(p)
}
