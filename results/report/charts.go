package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/simdev/sim/results"
)

// chartSpec is one chart of a run report. The same specs drive the HTML page's charts (they are
// in the data blob) and the static images, so both show the same series with the same styles.
type chartSpec struct {
	ID      string     `json:"id"`
	Title   string     `json:"title"`
	Caption string     `json:"caption"`
	YLabel  string     `json:"y_label"`
	Lines   []lineSpec `json:"lines"`
}

// lineSpec is one metric of a chart, drawn once per run in the run's colour; the metrics of
// one chart are told apart by width and dash.
type lineSpec struct {
	// Key is a timeline column's name (results.Columns), or keyMaxThreads.
	Key   string    `json:"key"`
	Name  string    `json:"name"`
	Width float64   `json:"width"`
	Dash  []float64 `json:"dash,omitempty"`
	// Fill shades the area under the line: the one metric a chart is about.
	Fill bool `json:"fill,omitempty"`
}

// keyMaxThreads draws the run's worker pool size as a flat line.
const keyMaxThreads = "max_threads"

// Line styles, in points (PNG) and CSS pixels (HTML).
var (
	dashOffered = []float64{6, 4}
	dashDotted  = []float64{2, 3}
)

// runCharts are the charts of a run report, in page order. A chart's y axis is labelled with its
// lines' unit, from the timeline's schema (results.Column.Unit).
var runCharts = withUnits([]chartSpec{
	{
		ID: "throughput", Title: "Throughput: offered vs OK",
		Caption: "Offered is the rate the load profile asked for; OK is the 2xx responses completed per second. " +
			"Where OK drops to zero while load is still offered, the app has collapsed.",
		Lines: []lineSpec{
			{Key: "ok_rps", Name: "OK", Width: 2.5},
			{Key: "offered_rps", Name: "offered", Width: 1.25, Dash: dashOffered},
		},
	},
	{
		ID: "sockets", Title: "Server sockets by state: CLOSE_WAIT",
		Caption: "CLOSE_WAIT (thick, shaded): the client gave up and closed, but the app never read or closed the socket, " +
			"because its request still waits in the queue for a worker. In the incident they grew until the fd limit. " +
			"ESTABLISHED and TIME_WAIT for scale.",
		Lines: []lineSpec{
			{Key: "close_wait", Name: "CLOSE_WAIT", Width: 3, Fill: true},
			{Key: "established", Name: "ESTABLISHED", Width: 1.25, Dash: dashOffered},
			{Key: "time_wait", Name: "TIME_WAIT", Width: 1.25, Dash: dashDotted},
		},
	},
	{
		ID: "latency", Title: "Latency per window: p50 and p99",
		Caption: "Over the results that completed in each window, whatever their outcome: a client timeout counts at the timeout. " +
			"Gaps: nothing completed in the window.",
		Lines: []lineSpec{
			{Key: "p99_ms", Name: "p99", Width: 2},
			{Key: "p50_ms", Name: "p50", Width: 1.25, Dash: dashOffered},
		},
	},
	{
		ID: "workers", Title: "Busy workers and self-calls",
		Caption: "Workers holding a request, from the app's admin endpoint (outside the pool, so it answers while the app is hung); " +
			"the dotted line is max_threads. A pool stuck at max_threads with OK at zero is the deadlock: every worker waits for a self-call that needs a worker. " +
			"Self-calls waiting: the app's sockets to its own port whose request is not yet answered, as the socket census sees them (sim watch) — " +
			"a worker blocked in each; with a self-call pool (HttpClient's max_per_route) at most its connections, the other callers wait for a lease inside the app.",
		Lines: []lineSpec{
			{Key: "workers_busy", Name: "busy", Width: 2},
			{Key: keyMaxThreads, Name: "max_threads", Width: 1, Dash: dashDotted},
			{Key: "selfcall_sockets_waiting", Name: "self-calls waiting", Width: 1.25, Dash: dashOffered},
		},
	},
	{
		ID: "queues", Title: "Queued requests and accept queue",
		Caption: "Queued: requests accepted and read, waiting for a worker (the connector's queue has no bound and no timer). " +
			"Accept queue: connections in the listener's backlog, not yet accepted.",
		Lines: []lineSpec{
			{Key: "queued", Name: "queued", Width: 2},
			{Key: "accept_queue", Name: "accept queue", Width: 1.25, Dash: dashDotted},
		},
	},
})

// withUnits labels each chart's y axis with the unit of the timeline column of its first line;
// every line of a chart is a column of the schema (or the pool size) in that unit
// (TestChartsFromSchema).
func withUnits(charts []chartSpec) []chartSpec {
	for i, c := range charts {
		col, ok := results.LookupColumn(c.Lines[0].Key)
		if !ok {
			panic("report: chart " + c.ID + " draws " + c.Lines[0].Key + ", which is no timeline column")
		}
		charts[i].YLabel = col.Unit
	}
	return charts
}

// column returns the values of one metric of a run, aligned with its T.
func (r runView) column(key string) []num {
	s := r.Series
	if key == keyMaxThreads {
		if r.MaxThreads <= 0 {
			return nil
		}
		c := make([]num, len(s.T))
		for i := range c {
			c[i] = num(r.MaxThreads)
		}
		return c
	}
	return s.Cols[key]
}

// chartOut is a rendered static chart.
type chartOut struct {
	file    string // relative to the report's folder, with forward slashes
	title   string
	caption string
	png     []byte
}

// Static chart geometry: 9 × 3.4 in at 120 dpi is 1080 × 408 px, wide enough for a code host's
// content column at full resolution and legible when scaled down.
const (
	chartWidth  = 9 * vg.Inch
	chartHeight = 3.4 * vg.Inch
	chartDPI    = 120
	// headroom above the highest value leaves room for the marker labels.
	headroom = 1.25
)

// maxInPlotLegend is the most runs whose series the legend inside the plot lists one by one:
// with two runs and three metrics that is six entries in the plot's top left corner; eight runs
// would be 24, taller than the plot. More runs get sideLegend instead.
const maxInPlotLegend = 2

// sideLegendWidth is the strip right of the plot that a side legend takes: room for the longest
// topology label ("admission limit") beside its line sample at the legend's 10 pt.
const sideLegendWidth = 1.9 * vg.Inch

// legendGray draws the side legend's metric entries: the line style alone, in no run's colour.
var legendGray = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}

// renderRunCharts draws the static PNG of every run chart.
func renderRunCharts(v view) ([]chartOut, error) {
	var outs []chartOut
	for _, spec := range v.Charts {
		p, err := runPlot(v, spec)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", spec.ID, err)
		}
		var side *plot.Legend
		if len(v.Runs) > maxInPlotLegend {
			if side, err = sideLegend(v, spec); err != nil {
				return nil, fmt.Errorf("chart %s: %w", spec.ID, err)
			}
		}
		data, err := pngWithLegend(p, side)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", spec.ID, err)
		}
		outs = append(outs, chartOut{file: ChartsDir + "/" + spec.ID + ".png", title: spec.Title, caption: spec.Caption, png: data})
	}
	return outs, nil
}

func runPlot(v view, spec chartSpec) (*plot.Plot, error) {
	p := newPlot(spec.Title, v.XLabel, spec.YLabel)
	xmax, ymax := 0.0, 0.0
	for _, r := range v.Runs {
		for _, l := range spec.Lines {
			ys := r.column(l.Key)
			if ys == nil {
				continue
			}
			col := hexColor(r.Color)
			name := l.Name
			if len(v.Runs) > 1 {
				name = r.Label + " " + l.Name
			}
			first := true
			for _, seg := range segments(r.Series.T, ys) {
				line, err := plotter.NewLine(seg)
				if err != nil {
					return nil, err
				}
				line.Color = col
				line.Width = vg.Points(l.Width)
				line.Dashes = points(l.Dash)
				if l.Fill {
					line.FillColor = withAlpha(col, 0x30)
				}
				p.Add(line)
				if first && len(v.Runs) <= maxInPlotLegend {
					p.Legend.Add(name, line)
					first = false
				}
				for _, pt := range seg {
					xmax, ymax = math.Max(xmax, pt.X), math.Max(ymax, pt.Y)
				}
			}
		}
	}
	for _, m := range v.Markers {
		xmax = math.Max(xmax, float64(m.T))
	}
	ymax = math.Max(ymax, 1) * headroom
	p.X.Min, p.X.Max = 0, math.Max(xmax, 1)
	p.Y.Min, p.Y.Max = 0, ymax
	if err := addMarkers(p, v.Markers, ymax); err != nil {
		return nil, err
	}
	return p, nil
}

// sideLegend is the legend of a chart with more runs than maxInPlotLegend, drawn beside the
// plot: a run's colour, then a metric's line style, each once (24 series read as 8 + 3 entries).
func sideLegend(v view, spec chartSpec) (*plot.Legend, error) {
	l := plot.NewLegend()
	l.Top, l.Left = true, true
	l.TextStyle.Font.Variant = chartFont
	l.TextStyle.Font.Size = vg.Points(10)
	l.ThumbnailWidth = vg.Points(24)
	l.Padding = vg.Points(1)
	sample := func(c color.RGBA, width float64, dash []float64) (*plotter.Line, error) {
		line, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 0}})
		if err != nil {
			return nil, err
		}
		line.Color, line.Width, line.Dashes = c, vg.Points(width), points(dash)
		return line, nil
	}
	for _, r := range v.Runs {
		line, err := sample(hexColor(r.Color), 3, nil)
		if err != nil {
			return nil, err
		}
		l.Add(r.Label, line)
	}
	for _, ls := range spec.Lines {
		line, err := sample(legendGray, ls.Width, ls.Dash)
		if err != nil {
			return nil, err
		}
		l.Add(ls.Name, line)
	}
	return &l, nil
}

// chartFont is the variant of gonum/plot's bundled Liberation fonts the charts use: sans, like
// the HTML page, rather than gonum's default serif.
const chartFont = "Sans"

// Tick counts the axes aim for: a label every few seconds across a run, a handful up the side.
const (
	xTicks = 10
	yTicks = 5
)

func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Tick.Marker = niceTicks{n: xTicks}
	p.Y.Tick.Marker = niceTicks{n: yTicks}
	for _, f := range []*font.Font{
		&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &p.Legend.TextStyle.Font,
	} {
		f.Variant = chartFont
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = -vg.Points(4)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.ThumbnailWidth = vg.Points(24)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 0xe0}
	grid.Horizontal.Color = color.Gray{Y: 0xe0}
	p.Add(grid)
	return p
}

// addMarkers draws each marker as a dashed vertical line with its label at the top, labels
// stepped down so neighbours do not overprint each other.
func addMarkers(p *plot.Plot, ms []marker, ymax float64) error {
	for i, m := range ms {
		col := hexColor(m.Color)
		line, err := plotter.NewLine(plotter.XYs{{X: float64(m.T), Y: 0}, {X: float64(m.T), Y: ymax}})
		if err != nil {
			return err
		}
		line.Color = col
		line.Width = vg.Points(1.25)
		line.Dashes = points([]float64{5, 3})
		p.Add(line)
		y := ymax * (0.97 - 0.07*float64(i%3))
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: float64(m.T), Y: y}}, Labels: []string{m.Label}})
		if err != nil {
			return err
		}
		for j := range lab.TextStyle {
			lab.TextStyle[j].Font.Variant = chartFont
			lab.TextStyle[j].Color = col
			lab.TextStyle[j].Font.Size = vg.Points(9)
			lab.TextStyle[j].YAlign = -1 // top of the text at y
		}
		lab.Offset = vg.Point{X: vg.Points(3)}
		p.Add(lab)
	}
	return nil
}

// niceTicks puts labelled ticks at round steps (1, 2 or 5 times a power of ten), about n of
// them, with unlabelled ones halfway; gonum's default labels only a few, with two decimals.
type niceTicks struct{ n int }

func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || t.n <= 0 {
		return nil
	}
	step := niceStep((hi - lo) / float64(t.n))
	decimals := max(0, -int(math.Floor(math.Log10(step))))
	first := math.Ceil(lo/step) * step
	var ticks []plot.Tick
	for i := 0; ; i++ {
		v := first + float64(i)*step
		if v > hi+step*1e-9 {
			break
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
		if half := v + step/2; half <= hi {
			ticks = append(ticks, plot.Tick{Value: half})
		}
	}
	return ticks
}

// niceStep is the round step nearest to raw on a log scale.
func niceStep(raw float64) float64 {
	p := math.Pow10(int(math.Floor(math.Log10(raw))))
	best := p
	for _, m := range []float64{1, 2, 5, 10} {
		if math.Abs(math.Log(m*p/raw)) < math.Abs(math.Log(best/raw)) {
			best = m * p
		}
	}
	return best
}

// segments splits a series at its gaps (NaN), which gonum/plot cannot draw, so that a gap shows
// as a gap rather than a line across it.
func segments(ts, ys []num) []plotter.XYs {
	var segs []plotter.XYs
	var cur plotter.XYs
	for i := range ts {
		if i >= len(ys) || math.IsNaN(float64(ys[i])) || math.IsNaN(float64(ts[i])) {
			if len(cur) > 0 {
				segs = append(segs, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, plotter.XY{X: float64(ts[i]), Y: float64(ys[i])})
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	return segs
}

// pngBytes draws p as a PNG.
func pngBytes(p *plot.Plot) ([]byte, error) { return pngWithLegend(p, nil) }

// pngWithLegend draws p as a PNG; a side legend, when given, in a strip right of the plot.
func pngWithLegend(p *plot.Plot, side *plot.Legend) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(chartWidth, chartHeight), vgimg.UseDPI(chartDPI))
	dc := draw.New(c)
	if side != nil {
		p.Draw(draw.Crop(dc, 0, -sideLegendWidth, 0, 0))
		// Below the title's line, so the first entry lines up with the top of the plot.
		side.YOffs = -vg.Points(30)
		side.Draw(draw.Crop(dc, chartWidth-sideLegendWidth+vg.Points(6), 0, 0, 0))
	} else {
		p.Draw(dc)
	}
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func points(xs []float64) []vg.Length {
	var ls []vg.Length
	for _, x := range xs {
		ls = append(ls, vg.Points(x))
	}
	return ls
}

// hexColor parses "#rrggbb"; anything else is black.
func hexColor(s string) color.RGBA {
	if len(s) != 7 || s[0] != '#' {
		return color.RGBA{A: 0xff}
	}
	n, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return color.RGBA{A: 0xff}
	}
	return color.RGBA{R: uint8(n >> 16), G: uint8(n >> 8), B: uint8(n), A: 0xff}
}

// withAlpha returns c with alpha a, premultiplied as image/color expects.
func withAlpha(c color.RGBA, a uint8) color.RGBA {
	scale := func(v uint8) uint8 { return uint8(uint16(v) * uint16(a) / 0xff) }
	return color.RGBA{R: scale(c.R), G: scale(c.G), B: scale(c.B), A: a}
}
