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

// Table writes the side-by-side verdict table for a terminal: a row per metric (verdict, onset
// and the offered rate there, peak CLOSE_WAIT, recovery, throughput, p50/p99, errors by kind,
// the record folder), a column per record, headed by its topology.
func Table(w io.Writer, recs []*results.Record) error {
	labels := runLabels(recs)
	cols := make([]cells, len(recs))
	for i, r := range recs {
		cols[i] = runCells(&r.Summary)
	}
	tw := tabwriter.NewWriter(w, 0, 0, tableGap, ' ', 0)
	row := func(name string, vals []string) {
		fmt.Fprintf(tw, "%s\t%s\n", name, strings.Join(vals, "\t"))
	}
	row("", labels)
	for _, m := range metrics {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = m.Get(c)
		}
		row(m.Name, vals)
	}
	dirs := make([]string, len(recs))
	for i, r := range recs {
		dirs[i] = orDash(r.Dir)
	}
	row("record", dirs)
	return tw.Flush()
}
