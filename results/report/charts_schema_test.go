package report

import (
	"testing"

	"github.com/simdev/sim/results"
)

// TestChartsFromSchema: every line a chart draws is a timeline column (or the pool size), the
// y axis is labelled with its first line's unit, and the page's data blob carries exactly the
// drawn columns. (A later line may count another thing on the same scale: the accept queue's
// connections beside the worker queue's requests.)
func TestChartsFromSchema(t *testing.T) {
	drawn := 0
	for _, c := range runCharts {
		for i, l := range c.Lines {
			if l.Key == keyMaxThreads {
				continue
			}
			drawn++
			col, ok := results.LookupColumn(l.Key)
			if !ok {
				t.Errorf("chart %s draws %q, which is no timeline column", c.ID, l.Key)
				continue
			}
			if i == 0 && col.Unit != c.YLabel {
				t.Errorf("chart %s: %s is in %q, the axis in %q", c.ID, l.Key, col.Unit, c.YLabel)
			}
		}
	}
	if len(chartColumns) != drawn {
		t.Errorf("%d columns in the data blob, %d drawn", len(chartColumns), drawn)
	}
}
