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

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/simdev/sim/results"
)

// The plan's static charts, relative to its folder: the hang hazard against the rate (when the
// plan has hazard curves) and the capacity per pool size (when it has two pool sizes or more).
const (
	PlanHazardChartFile = ChartsDir + "/plan-hazard.png"
	PlanChartFile       = ChartsDir + "/plan-capacity.png"
)

// planView is everything a plan report shows, in page order; its JSON is plan.html's data blob.
type planView struct {
	Title    string   `json:"title"`
	Summary  string   `json:"summary"`
	Warnings []string `json:"warnings,omitempty"`
	// Answer is the lead table: per pool size, the safe rate at the risk and horizon.
	AnswerTitle string    `json:"answer_title"`
	Answer      planTable `json:"answer"`
	// Peak is --peak-rate's answer, the workers needed.
	Peak           *planTable  `json:"peak,omitempty"`
	Recommendation string      `json:"recommendation"`
	Charts         []planChart `json:"charts"`
	Explanation    []string    `json:"explanation"`
	// Details are the measured rates beside Little's law.
	Details planTable  `json:"details"`
	Verify  *planTable `json:"verify,omitempty"`
	Search  string     `json:"search,omitempty"`
	Rows    []planRow  `json:"rows"`
}

// planTable is a table as text.
type planTable struct {
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// planRow is one row's measured steps.
type planRow struct {
	Label string     `json:"label"`
	Count string     `json:"count"` // "3 steps"
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

// planChart is one chart of the plan: each series has its own points, x ascending.
type planChart struct {
	ID      string       `json:"id"`
	Title   string       `json:"title"`
	Caption string       `json:"caption"`
	XLabel  string       `json:"x_label"`
	YLabel  string       `json:"y_label"`
	XUnit   string       `json:"x_unit"`
	YUnit   string       `json:"y_unit"`
	XLog    bool         `json:"x_log"`
	YLog    bool         `json:"y_log"`
	Series  []planSeries `json:"series"`
	file    string
}

type planSeries struct {
	Name  string    `json:"name"`
	Color string    `json:"color"`
	Width float64   `json:"width"`
	Dash  []float64 `json:"dash,omitempty"`
	// PointsOnly draws the points without a line (the safe rates across pool sizes).
	PointsOnly bool  `json:"points_only,omitempty"`
	X          []sig `json:"x"`
	Y          []sig `json:"y"`
	// Lo and Hi, when set, are each point's interval, drawn as whiskers.
	Lo []sig `json:"lo,omitempty"`
	Hi []sig `json:"hi,omitempty"`
}

// sig is a chart value kept to 4 significant digits in the data blob: hazards span from 1e-6
// to 1e5 per hour, which num's fixed decimals would round to 0.
type sig float64

func (s sig) MarshalJSON() ([]byte, error) {
	x := float64(s)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, x, 'g', 4, 64), nil
}

// Colours of the plan's charts.
const (
	modelColor    = "#222222"
	budgetColor   = "#d62728"
	uniformColor  = "#1f77b4"
	poissonColor  = "#ff7f0e"
	sloColor      = "#2ca02c"
	whiskerAlpha  = 140 // of 255: whiskers lighter than their curve
	safePointSize = 11
)

// xLogRatio: an x axis whose largest value is more than this many times its smallest is drawn
// on a log scale, so that 8 workers' rates are not squeezed against the axis beside 256's.
const xLogRatio = 8

// sortedRows orders rows by pool size, then arrival process: the order of every table.
func sortedRows(p *results.Plan) []results.PlanRow {
	rows := slices.Clone(p.Rows)
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].MaxThreads != rows[j].MaxThreads {
			return rows[i].MaxThreads < rows[j].MaxThreads
		}
		return rows[i].Arrivals < rows[j].Arrivals
	})
	return rows
}

const notMeasured = "not measured"

// safeRate writes a safe rate rounded down, so no table shows a rate above the one planned.
func safeRate(r float64) string {
	if r >= 100 {
		return strconv.FormatFloat(math.Floor(r), 'f', 0, 64)
	}
	return strconv.FormatFloat(math.Floor(r*10)/10, 'f', 1, 64)
}

// hazardCell writes a hazard with its interval: "4.2e-4 (3.4e-4–5.2e-4)".
func hazardCell(h *float64, ci *results.Interval) string {
	s := results.FormatHazard(*h)
	if ci != nil && ci.Hi > 0 {
		s += " (" + results.FormatHazard(ci.Lo) + "–" + results.FormatHazard(ci.Hi) + ")"
	}
	return s
}

var basisText = map[string]string{
	results.BasisRisk:      "hang risk",
	results.BasisThreshold: "threshold (best case)",
	results.BasisSLO:       "SLO",
	results.BasisCapacity:  "capacity (SLO)",
}

var answerColumns = []string{"pool size", "arrivals", "safe rps", "hang hazard at it, per hour (95 % interval)", "one hang in", "set by", "Little's law rps"}

func answerCells(p *results.Plan, r results.PlanRow) []string {
	arrivals := orDash(r.Arrivals)
	if r.Arrivals == "uniform" && p.Hangs() {
		arrivals += " (best case)"
	}
	safe := safeRate(r.SafeRPS)
	switch {
	case r.Basis == results.BasisThreshold && r.DeadlockRPS == nil:
		safe = "no hang seen"
	case r.SafeRPS == 0:
		safe = "none"
	}
	hazard, every := "–", "–"
	switch {
	case r.HazardPerHour != nil:
		hazard, every = hazardCell(r.HazardPerHour, r.HazardCI), strings.TrimPrefix(results.HangEvery(*r.HazardPerHour), "about ")
		if ci := r.HazardCI; ci != nil && ci.Hi > *r.HazardPerHour {
			every += " (at worst " + strings.TrimPrefix(results.HangEvery(ci.Hi), "about ") + ")"
		}
	case !p.Hangs():
		hazard, every = "none: no self-call cycle", "never"
	case r.Arrivals == "uniform":
		hazard = "0 below the threshold (model)"
	}
	basis := basisText[r.Basis]
	if basis == "" {
		basis = orDash(r.Basis)
	}
	return []string{strconv.Itoa(r.MaxThreads), arrivals, safe, hazard, every, basis, fmtRate(r.PredictedRPS)}
}

var detailColumns = []string{"pool size", "arrivals", "SLO rate rps", "evenly paced threshold rps", "Little's law rps", "measured/predicted"}

func detailCells(p *results.Plan, r results.PlanRow) []string {
	sustained := notMeasured
	if r.SustainedRPS != nil {
		sustained = fmtRate(*r.SustainedRPS)
		if *r.SustainedRPS == 0 {
			sustained = "none (the lowest rate missed)"
		}
	}
	threshold := "–"
	switch {
	case r.DeadlockRPS != nil:
		threshold = fmtRate(*r.DeadlockRPS)
	case p.Hangs() && r.Arrivals == "uniform":
		threshold = "no hang in the ramp"
	case p.Hangs():
		threshold = "none: random arrivals hang at any rate"
	}
	ratio := "–"
	if r.Ratio > 0 {
		ratio = strconv.FormatFloat(r.Ratio, 'f', 2, 64)
	}
	return []string{strconv.Itoa(r.MaxThreads), orDash(r.Arrivals), sustained, threshold, fmtRate(r.PredictedRPS), ratio}
}

func buildPlanView(p *results.Plan) planView {
	rows := sortedRows(p)
	v := planView{
		Title:          "Capacity plan: " + orDash(p.Topology) + onRuntime(p.Server["runtime"]),
		Warnings:       p.Warnings,
		Search:         p.Search,
		Recommendation: p.Recommendation,
		Explanation:    p.Explanation,
		Answer:         planTable{Columns: answerColumns},
		Details:        planTable{Columns: detailColumns},
	}
	engine := orDash(p.Engine)
	v.Summary = fmt.Sprintf("Topology %s%s, work_time %s ms, self-call %s ms; measured steps on the %s engine.",
		orDash(p.Topology), onRuntime(p.Server["runtime"]), fmtMS(p.WorkTimeS*1000), fmtMS(p.SelfCallS*1000), engine)
	if p.Hangs() {
		v.AnswerTitle = fmt.Sprintf("Safe rate per pool size: at most %s chance of a hang within %s", fmtPercent(p.Risk), results.HorizonText(p.HorizonS))
		v.Summary += fmt.Sprintf(" Budget: at most %s chance of a hang within %s (a hazard of at most %s per hour).",
			fmtPercent(p.Risk), results.HorizonText(p.HorizonS), results.FormatHazard(p.BudgetPerHour))
	} else {
		v.AnswerTitle = "Safe rate per pool size: the highest rate within the SLO"
	}
	v.Summary += fmt.Sprintf(" SLO: p99 ≤ %s ms and errors ≤ %s.", fmtMS(p.SLO.P99MS), fmtPercent(p.SLO.ErrorRate))
	if p.StartedAt != "" {
		v.Summary += " Planned " + p.StartedAt
		if p.FinishedAt != "" {
			v.Summary += " to " + p.FinishedAt
		}
		v.Summary += "."
	}
	for _, r := range rows {
		v.Answer.Rows = append(v.Answer.Rows, answerCells(p, r))
		v.Details.Rows = append(v.Details.Rows, detailCells(p, r))
		pr := planRow{Label: fmt.Sprintf("pool size %d, %s arrivals", r.MaxThreads, orDash(r.Arrivals)), Count: plural(len(r.Steps), "step")}
		for _, s := range r.Steps {
			pr.Steps = append(pr.Steps, planStep{
				Rate: fmtRate(s.RateRPS), P99: fmtMS(s.P99MS), Errors: fmtPercent(s.ErrorRate),
				MeetsSLO: s.MeetsSLO, Hang: s.Hang, Record: s.Record,
			})
		}
		v.Rows = append(v.Rows, pr)
	}
	if pk := p.Peak; pk != nil {
		workers := strconv.Itoa(pk.Workers)
		if pk.Workers == 0 {
			workers = fmt.Sprintf("none up to %d", pk.SearchedMax)
		}
		hazard := "–"
		if pk.HazardPerHour != nil {
			hazard = hazardCell(pk.HazardPerHour, pk.HazardCI)
		}
		basis := basisText[pk.Basis]
		v.Peak = &planTable{
			Columns: []string{"peak rps", "arrivals", "workers needed", "hang hazard at it, per hour (95 % interval)", "sized by"},
			Rows:    [][]string{{strconv.FormatFloat(pk.RateRPS, 'g', 6, 64), orDash(pk.Arrivals), workers, hazard, basis}},
		}
	}
	if vf := p.Verify; vf != nil {
		measured := fmt.Sprintf("no hang within %s s", fmtFloat(vf.HoldS))
		if vf.Hang && vf.MeasuredS != nil {
			measured = fmt.Sprintf("hung after %s s", fmtMS(*vf.MeasuredS))
		}
		v.Verify = &planTable{
			Columns: []string{"pool size", "rate rps", "predicted mean time to hang (95 % interval)", "predicted chance of a hang within the hold", "measured on sockets", "record"},
			Rows: [][]string{{
				strconv.Itoa(vf.MaxThreads), strconv.FormatFloat(vf.RateRPS, 'f', 1, 64),
				meanTimeToHang(vf),
				fmtPercent(math.Round(vf.PredictedP*1000) / 1000), measured, vf.Record,
			}},
		}
	}
	if c, ok := planHazardChart(p); ok {
		v.Charts = append(v.Charts, c)
	}
	if c, ok := planCapacityChart(p, rows); ok {
		v.Charts = append(v.Charts, c)
	}
	return v
}

// meanTimeToHang writes the verify hold's predicted mean time to hang with its interval
// (3600 / the hazard's interval, reversed); an end of the interval at 0 hangs is "never".
func meanTimeToHang(vf *results.PlanVerify) string {
	at := func(perHour float64) string {
		if !(perHour > 0) {
			return "never"
		}
		return fmtMS(3600/perHour) + " s"
	}
	return fmt.Sprintf("%s (%s to %s)", at(vf.PredictedPerHour), at(vf.PredictedCI.Hi), at(vf.PredictedCI.Lo))
}

// planHazardChart draws the hazard against the rate, one curve per pool size with its interval
// as whiskers, the safe rates as large points and the budget as a horizontal line: each curve
// crosses the budget at its pool's safe rate.
func planHazardChart(p *results.Plan) (planChart, bool) {
	if len(p.Curves) == 0 {
		return planChart{}, false
	}
	c := planChart{
		ID: "hazard", file: PlanHazardChartFile,
		Title: "Hang hazard against the rate (Poisson arrivals)",
		Caption: fmt.Sprintf("Hangs per hour of steady traffic, from the virtual-time model, with 95 %% intervals (whiskers), on a log scale. "+
			"The red line is the budget, at most %s chance of a hang within %s (%s per hour); each curve crosses it at its pool's safe rate (large points). "+
			"There is no rate below which the hazard is zero, only rates where it is rare.",
			fmtPercent(p.Risk), results.HorizonText(p.HorizonS), results.FormatHazard(p.BudgetPerHour)),
		XLabel: "offered rate (requests/s)", YLabel: "hangs per hour", XUnit: " rps", YUnit: "/h", YLog: true,
	}
	curves := slices.Clone(p.Curves)
	slices.SortFunc(curves, func(a, b results.HazardCurve) int { return a.MaxThreads - b.MaxThreads })
	xmin, xmax := math.Inf(1), 0.0
	safe := planSeries{Name: "safe rate", Color: budgetColor, Width: 0, PointsOnly: true}
	for i, cv := range curves {
		s := planSeries{Name: fmt.Sprintf("%d workers", cv.MaxThreads), Color: palette[i%len(palette)], Width: 2}
		for _, pt := range cv.Points {
			s.X = append(s.X, sig(pt.RateRPS))
			s.Y = append(s.Y, positive(pt.HazardPerHour))
			s.Lo = append(s.Lo, positive(pt.HazardCI.Lo))
			s.Hi = append(s.Hi, positive(pt.HazardCI.Hi))
			xmin, xmax = math.Min(xmin, pt.RateRPS), math.Max(xmax, pt.RateRPS)
		}
		c.Series = append(c.Series, s)
		for _, r := range p.Rows {
			if r.MaxThreads == cv.MaxThreads && r.Arrivals == "poisson" && r.HazardPerHour != nil && r.SafeRPS > 0 {
				safe.X = append(safe.X, sig(r.SafeRPS))
				safe.Y = append(safe.Y, positive(*r.HazardPerHour))
			}
		}
	}
	if len(safe.X) > 0 {
		c.Series = append(c.Series, safe)
	}
	if xmax > 0 {
		c.Series = append(c.Series, planSeries{
			Name: fmt.Sprintf("budget: %s in %s", fmtPercent(p.Risk), results.HorizonText(p.HorizonS)), Color: budgetColor, Width: 1.5, Dash: dashOffered,
			X: []sig{sig(xmin), sig(xmax)}, Y: []sig{sig(p.BudgetPerHour), sig(p.BudgetPerHour)},
		})
		c.XLog = xmax > xLogRatio*xmin
	}
	return c, true
}

// positive is a hazard a log scale can draw: 0 (no hang seen) is a gap.
func positive(h float64) sig {
	if !(h > 0) {
		return sig(math.NaN())
	}
	return sig(h)
}

// planCapacityChart draws, per pool size, the safe rate under Poisson arrivals, the evenly
// paced threshold and the SLO rate against Little's law. It needs two pool sizes to be a curve.
func planCapacityChart(p *results.Plan, rows []results.PlanRow) (planChart, bool) {
	var sizes []int
	for _, r := range rows {
		if !slices.Contains(sizes, r.MaxThreads) {
			sizes = append(sizes, r.MaxThreads)
		}
	}
	if len(sizes) < 2 {
		return planChart{}, false
	}
	c := planChart{
		ID: "capacity", file: PlanChartFile,
		Title:   "Rates per pool size against Little's law",
		Caption: "Safe: the plan's rate per pool size. Threshold: where evenly paced load hangs (a best case). SLO: the highest rate within the SLO. Little's law: max_threads / (work_time + self-call time).",
		XLabel:  "pool size (max_threads)", YLabel: "requests/s", XUnit: "", YUnit: " rps",
	}
	add := func(name, color string, width float64, dash []float64, get func(results.PlanRow) (float64, bool)) {
		s := planSeries{Name: name, Color: color, Width: width, Dash: dash}
		for _, r := range rows {
			if y, ok := get(r); ok {
				s.X, s.Y = append(s.X, sig(r.MaxThreads)), append(s.Y, sig(y))
			}
		}
		if len(s.X) > 0 {
			c.Series = append(c.Series, s)
		}
	}
	if p.Hangs() {
		add("safe (poisson, "+fmtPercent(p.Risk)+" in "+results.HorizonText(p.HorizonS)+")", poissonColor, 2.5, nil, func(r results.PlanRow) (float64, bool) {
			return r.SafeRPS, r.Arrivals == "poisson" && r.HazardPerHour != nil
		})
		add("threshold (uniform, best case)", uniformColor, 2, dashOffered, func(r results.PlanRow) (float64, bool) {
			if r.DeadlockRPS == nil {
				return 0, false
			}
			return *r.DeadlockRPS, true
		})
	}
	for _, a := range []string{"uniform", "poisson"} {
		add("SLO rate ("+a+")", sloColor, 2, map[string][]float64{"uniform": nil, "poisson": dashOffered}[a], func(r results.PlanRow) (float64, bool) {
			if r.Arrivals != a || r.SustainedRPS == nil {
				return 0, false
			}
			return *r.SustainedRPS, true
		})
	}
	seen := map[int]bool{}
	add("Little's law", modelColor, 1.5, dashDotted, func(r results.PlanRow) (float64, bool) {
		ok := !seen[r.MaxThreads]
		seen[r.MaxThreads] = true
		return r.PredictedRPS, ok
	})
	return c, true
}

// PlanTable writes the plan for a terminal: the answer table, the workers for a peak rate, the
// verify hold, and the recommendation.
func PlanTable(w io.Writer, p *results.Plan) error {
	if p == nil {
		return errors.New("plan table: no plan")
	}
	v := buildPlanView(p)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", v.AnswerTitle)
	if err := writeTextTable(&b, v.Answer); err != nil {
		return err
	}
	for _, t := range []*planTable{v.Peak, v.Verify} {
		if t == nil {
			continue
		}
		b.WriteByte('\n')
		if err := writeTextTable(&b, *t); err != nil {
			return err
		}
	}
	if p.Recommendation != "" {
		fmt.Fprintf(&b, "\n%s\n", wrap(p.Recommendation, wrapWidth))
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeTextTable(w io.Writer, t planTable) error {
	tw := tabwriter.NewWriter(w, 0, 0, tableGap, ' ', 0)
	fmt.Fprintf(tw, "%s\t\n", strings.Join(t.Columns, "\t"))
	for _, r := range t.Rows {
		fmt.Fprintf(tw, "%s\t\n", strings.Join(r, "\t"))
	}
	return tw.Flush()
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

// WritePlan renders p into dir: plan.html (self-contained, with the interactive charts), plan.md
// and the charts as PNG, each written atomically, the charts first.
func WritePlan(dir string, p *results.Plan) (Files, error) {
	if p == nil {
		return Files{}, errors.New("write plan: no plan")
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return Files{}, fmt.Errorf("write plan: %w", err)
	}
	// Before the chart is drawn, the slow part; writeAll checks every file again.
	if err := results.RefuseLinks(dir, ChartsDir, PlanMDFile, PlanHTMLFile); err != nil {
		return Files{}, fmt.Errorf("write plan: %w", err)
	}
	v := buildPlanView(p)
	var outs []output
	for _, c := range v.Charts {
		png, err := planPNG(c)
		if err != nil {
			return Files{}, fmt.Errorf("write plan: chart %s: %w", c.ID, err)
		}
		outs = append(outs, output{c.file, png})
	}
	html, err := renderPlanHTML(v)
	if err != nil {
		return Files{}, fmt.Errorf("write plan: %w", err)
	}
	outs = append(outs, output{PlanMDFile, renderPlanMarkdown(v)}, output{PlanHTMLFile, html})
	paths, err := writeAll(dir, outs)
	if err != nil {
		return Files{}, fmt.Errorf("write plan: %w", err)
	}
	n := len(paths)
	return Files{HTML: paths[n-1], Markdown: paths[n-2], Charts: paths[:n-2]}, nil
}

func renderPlanMarkdown(v planView) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", mdText(v.Title), mdText(v.Summary))
	for _, w := range v.Warnings {
		fmt.Fprintf(&b, "> **Warning:** %s.\n\n", mdText(w))
	}
	fmt.Fprintf(&b, "## %s\n\n", mdText(v.AnswerTitle))
	writeMDPlanTable(&b, v.Answer)
	if v.Peak != nil {
		b.WriteString("\n")
		writeMDPlanTable(&b, *v.Peak)
	}
	if v.Recommendation != "" {
		fmt.Fprintf(&b, "\n%s\n", mdText(v.Recommendation))
	}
	for _, c := range v.Charts {
		fmt.Fprintf(&b, "\n## %s\n\n![%s](%s)\n\n%s\n", mdText(c.Title), mdText(c.Title), c.file, mdText(c.Caption))
	}
	fmt.Fprintf(&b, "\nInteractive charts: [%s](%s) (one self-contained file, opens offline).\n", PlanHTMLFile, PlanHTMLFile)
	if len(v.Explanation) > 0 {
		b.WriteString("\n## How to read this plan\n")
		for _, para := range v.Explanation {
			fmt.Fprintf(&b, "\n%s\n", mdText(para))
		}
	}
	if v.Verify != nil {
		b.WriteString("\n## Verify: the model against real sockets\n\n")
		writeMDPlanTable(&b, *v.Verify)
	}
	b.WriteString("\n## Measured rates and Little's law\n\n")
	writeMDPlanTable(&b, v.Details)
	if v.Search != "" {
		fmt.Fprintf(&b, "\nSearch: %s\n", mdText(v.Search))
	}
	for _, r := range v.Rows {
		if len(r.Steps) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n<details><summary>%s: %s</summary>\n\n", mdText(r.Label), plural(len(r.Steps), "step"))
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
	return b.Bytes()
}

func writeMDPlanTable(b *bytes.Buffer, t planTable) {
	b.WriteString("|")
	for _, c := range t.Columns {
		fmt.Fprintf(b, " %s |", mdCell(c))
	}
	b.WriteString("\n|")
	for i := range t.Columns {
		if numericColumn(t, i) {
			b.WriteString(" ---: |")
		} else {
			b.WriteString(" --- |")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		b.WriteString("|")
		for _, c := range r {
			fmt.Fprintf(b, " %s |", mdCell(c))
		}
		b.WriteString("\n")
	}
}

func plural(n int, unit string) string {
	if n != 1 {
		unit += "s"
	}
	return strconv.Itoa(n) + " " + unit
}

// numericColumn reports that every cell of column i is a number, to be right-aligned.
func numericColumn(t planTable, i int) bool {
	for _, r := range t.Rows {
		if i >= len(r) {
			return false
		}
		if _, err := strconv.ParseFloat(r[i], 64); err != nil {
			return false
		}
	}
	return len(t.Rows) > 0
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

// planPNG draws a plan chart: lines with a point at every value, whiskers for intervals, log
// axes where the chart asks for them.
func planPNG(c planChart) ([]byte, error) {
	p := newPlot(c.Title, c.XLabel, c.YLabel)
	xmax, ymax, ymin := 0.0, 0.0, math.Inf(1)
	for _, s := range c.Series {
		var xys plotter.XYs
		var errs plotter.YErrors
		for i := range s.X {
			x, y := float64(s.X[i]), float64(s.Y[i])
			if math.IsNaN(y) || (c.YLog && !(y > 0)) || (c.XLog && !(x > 0)) {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
			xmax, ymax, ymin = math.Max(xmax, x), math.Max(ymax, y), math.Min(ymin, y)
			if i < len(s.Lo) && i < len(s.Hi) && !math.IsNaN(float64(s.Lo[i])) && !math.IsNaN(float64(s.Hi[i])) {
				errs = append(errs, struct{ Low, High float64 }{y - float64(s.Lo[i]), float64(s.Hi[i]) - y})
				ymax, ymin = math.Max(ymax, float64(s.Hi[i])), math.Min(ymin, float64(s.Lo[i]))
			}
		}
		if len(xys) == 0 {
			continue
		}
		col := hexColor(s.Color)
		line, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		line.Color, line.Width, line.Dashes = col, vg.Points(s.Width), points(s.Dash)
		pts.Color, pts.Radius, pts.Shape = col, vg.Points(3), draw.CircleGlyph{}
		if s.PointsOnly {
			pts.Radius = vg.Points(safePointSize / 2)
			pts.Shape = draw.RingGlyph{}
			p.Add(pts)
			p.Legend.Add(s.Name, pts)
		} else {
			p.Add(line, pts)
			p.Legend.Add(s.Name, line, pts)
		}
		if len(errs) == len(xys) {
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{xys, errs})
			if err != nil {
				return nil, err
			}
			eb.Color = withAlpha(col, whiskerAlpha)
			eb.Width = vg.Points(1.5)
			eb.CapWidth = vg.Points(5)
			p.Add(eb)
		}
	}
	if c.XLog {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		p.X.Min, p.X.Max = 0, math.Max(xmax, 1)*1.05
	}
	if c.YLog && ymax > 0 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = ymin/2, ymax*2
	} else {
		p.Y.Min, p.Y.Max = 0, math.Max(ymax, 1)*1.15
	}
	return pngBytes(p)
}

// onRuntime is " on RUNTIME" for a plan of a runtime other than Tomcat's, else "".
func onRuntime(rt string) string {
	if rt == "" || rt == "tomcat" {
		return ""
	}
	return " on " + rt
}
