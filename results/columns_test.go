package results

import (
	"reflect"
	"testing"
)

// TestColumnsSchema: every timeline column is declared with a description, a number has a unit,
// the census and app columns know their part, and Value says "not measured" exactly where the
// record's zero is no data: a census gap, an app that did not answer, a window in which nothing
// completed (for latencies).
func TestColumnsSchema(t *testing.T) {
	parts := map[Part]int{}
	for _, c := range Columns() {
		parts[c.Part]++
		if c.Description == "" {
			t.Errorf("%s has no desc tag", c.Name)
		}
		if number := c.kind != reflect.Bool && c.kind != reflect.String; number && c.Unit == "" {
			t.Errorf("%s is a number without a unit tag", c.Name)
		}
	}
	// As many census and app columns as the embedded structs have fields: none is left out.
	if n := reflect.TypeFor[SocketCensus]().NumField(); parts[PartCensus] != n {
		t.Errorf("%d census columns, SocketCensus has %d fields", parts[PartCensus], n)
	}
	if n := reflect.TypeFor[AppStats]().NumField(); parts[PartApp] != n {
		t.Errorf("%d app columns, AppStats has %d fields", parts[PartApp], n)
	}

	s := testSample(0)
	s.AppUp = true
	for _, c := range []struct {
		name  string
		edit  func(*Sample)
		want  float64
		known bool
	}{
		{"close_wait", func(*Sample) {}, 3000, true},
		{"close_wait", func(s *Sample) { s.SocketsMissing = true }, 0, false},
		{"workers_busy", func(*Sample) {}, 16, true},
		{"workers_busy", func(s *Sample) { s.AppUp = false }, 0, false},
		{"accept_errors", func(*Sample) {}, 1 << 40, true},
		{"p99_ms", func(*Sample) {}, 10.125, true},
		{"p99_ms", func(s *Sample) {
			s.OK, s.ErrTimeout, s.ErrRefused, s.ErrReset, s.ErrHTTP, s.ErrOther = 0, 0, 0, 0, 0, 0
		}, 0, false},
		{"offered_rps", func(s *Sample) { s.SocketsMissing, s.AppUp = true, false }, 100, true},
		{"app_up", func(*Sample) {}, 1, true},
	} {
		x := s
		c.edit(&x)
		col, ok := LookupColumn(c.name)
		if !ok {
			t.Fatalf("no column %s", c.name)
		}
		if v, known := col.Value(&x); v != c.want || known != c.known {
			t.Errorf("%s: Value %v (measured %v), want %v (%v)", c.name, v, known, c.want, c.known)
		}
	}
}
