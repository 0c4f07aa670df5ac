package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/simdev/sim/results"
)

// tableGap is the space between the terminal table's columns.
const tableGap = 3

// maxSideBySide is the most records Table shows a column each: a column of the side-by-side
// table is about 35 characters wide, so four already overflow a 120-column terminal.
const maxSideBySide = 3

// Table writes the verdict table for a terminal. Up to maxSideBySide records: side by side, a
// row per metric (verdict, onset and the offered rate there, capacity, peak CLOSE_WAIT,
// recovery, throughput, p50/p99, errors by kind, the record folder), a column per record,
// headed by its topology. More: the comparison matrix, a row per record, the best value of
// each column marked, then the record folders.
func Table(w io.Writer, recs []*results.Record) error {
	labels := runLabels(recs)
	tw := &tabWriter{tabwriter.NewWriter(w, 0, 0, tableGap, ' ', 0)}
	if len(recs) > maxSideBySide {
		runs := make([]runView, len(recs))
		for i := range recs {
			runs[i] = runView{Label: labels[i]}
		}
		matrixTable(tw, buildMatrix(recs, runs))
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n\n", bestLegend())
		for i, r := range recs {
			tw.row(labels[i], orDash(r.Dir))
		}
		return tw.Flush()
	}
	cols := make([]cells, len(recs))
	for i, r := range recs {
		cols[i] = runCells(&r.Summary)
	}
	tw.row(append([]string{""}, labels...)...)
	for _, m := range metrics {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = m.Get(c)
		}
		tw.row(append([]string{m.Name}, vals...)...)
	}
	dirs := make([]string, len(recs))
	for i, r := range recs {
		dirs[i] = orDash(r.Dir)
	}
	tw.row(append([]string{"record"}, dirs...)...)
	return tw.Flush()
}

// tabWriter writes rows of cells aligned in columns.
type tabWriter struct{ *tabwriter.Writer }

func (t *tabWriter) row(cells ...string) {
	fmt.Fprintf(t, "%s\n", strings.Join(cells, "\t"))
}
