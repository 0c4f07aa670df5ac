package results

import (
	"fmt"
	"reflect"
)

// Column is one column of the timeline: a field of Sample, declared there once. timeline.csv's
// writer and reader, the merge and the reports take the column's name, unit and format from
// here, and its value from Value.
type Column struct {
	// Name is the column's name in timeline.csv's header and the sample's JSON key.
	Name string
	// Unit is what its values count or measure ("requests/s", "ms", "sockets (app port)"); a
	// chart's y axis is labelled with it. Empty for text and flags.
	Unit string
	// Description says in a few words what it holds.
	Description string
	// Part is where the value comes from, which says when it is measured (Value).
	Part Part

	index     []int
	kind      reflect.Kind
	completed bool // measured only when a result completed in the window (latencies)
}

// Part is the source of a column's values.
type Part int

const (
	// PartWindow: the load client's own figures of the window, always measured.
	PartWindow Part = iota
	// PartCensus: the socket census (SocketCensus), not measured when SocketsMissing.
	PartCensus
	// PartApp: the app's admin /stats (AppStats), not measured when AppUp is false.
	PartApp
	// PartSelfcall: the census's self-calls (SelfCallCensus), not measured when SocketsMissing
	// or not SelfcallMeasured.
	PartSelfcall
)

// timeline is the schema, read once from Sample's fields.
var timeline = readSchema()

// Columns returns the timeline's columns in timeline.csv's order.
func Columns() []Column { return append([]Column(nil), timeline...) }

// LookupColumn returns the column of that name.
func LookupColumn(name string) (Column, bool) {
	for _, c := range timeline {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// Value returns the column's value in s as a number (a flag is 0 or 1; text has none), and
// whether s measured it: not a census column in a census gap, not an app column while the app
// did not answer, not a latency of a window in which nothing completed (the record holds 0 then,
// which is "no data", not "instant").
func (c Column) Value(s *Sample) (float64, bool) {
	switch {
	case c.Part == PartCensus && s.SocketsMissing,
		c.Part == PartApp && !s.AppUp,
		c.Part == PartSelfcall && (s.SocketsMissing || !s.SelfcallMeasured),
		c.completed && s.OK+s.ErrTimeout+s.ErrRefused+s.ErrReset+s.ErrHTTP+s.ErrOther == 0:
		return 0, false
	}
	v := reflect.ValueOf(s).Elem().FieldByIndex(c.index)
	switch c.kind {
	case reflect.Float64:
		return v.Float(), true
	case reflect.Int, reflect.Int64:
		return float64(v.Int()), true
	case reflect.Bool:
		if v.Bool() {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// csv is the column's timeline.csv cell format: floats to csvDecimals, whole numbers, true or
// false, text on one line; a census column's cell is empty in a census gap, so that a gap never
// reads as zero sockets (sockets_missing says it was one), and a self-call column's also when
// the census did not count self-calls (selfcall_measured).
func (c Column) csv() column[Sample] {
	field := func(s *Sample) reflect.Value { return reflect.ValueOf(s).Elem().FieldByIndex(c.index) }
	var col column[Sample]
	switch c.kind {
	case reflect.Float64:
		col = floatCol(c.Name, func(s *Sample) *float64 { return field(s).Addr().Interface().(*float64) })
	case reflect.Int:
		col = intCol(c.Name, func(s *Sample) *int { return field(s).Addr().Interface().(*int) })
	case reflect.Int64:
		col = int64Col(c.Name, func(s *Sample) *int64 { return field(s).Addr().Interface().(*int64) })
	case reflect.Bool:
		col = boolCol(c.Name, func(s *Sample) *bool { return field(s).Addr().Interface().(*bool) })
	case reflect.String:
		col = stringCol(c.Name, func(s *Sample) *string { return field(s).Addr().Interface().(*string) })
	}
	if c.Part == PartCensus || c.Part == PartSelfcall {
		get := col.get
		col.get = func(s *Sample) string {
			if s.SocketsMissing || (c.Part == PartSelfcall && !s.SelfcallMeasured) {
				return ""
			}
			return get(s)
		}
	}
	return col
}

// readSchema lists Sample's fields, the embedded SocketCensus and AppStats in place, as columns.
// A field of a kind the CSV cannot hold, or without a json name, panics at start-up: the schema
// is code, and a test starts it.
func readSchema() []Column {
	var out []Column
	var walk func(t reflect.Type, prefix []int, part Part)
	walk = func(t reflect.Type, prefix []int, part Part) {
		for i := range t.NumField() {
			f := t.Field(i)
			index := append(append([]int(nil), prefix...), i)
			if f.Anonymous {
				switch f.Type {
				case reflect.TypeFor[SocketCensus]():
					walk(f.Type, index, PartCensus)
				case reflect.TypeFor[AppStats]():
					walk(f.Type, index, PartApp)
				case reflect.TypeFor[SelfCallCensus]():
					walk(f.Type, index, PartSelfcall)
				default:
					panic("results: Sample embeds " + f.Type.String() + ", which has no Part")
				}
				continue
			}
			name := f.Tag.Get("json")
			switch f.Type.Kind() {
			case reflect.Float64, reflect.Int, reflect.Int64, reflect.Bool, reflect.String:
			default:
				panic(fmt.Sprintf("results: Sample.%s is a %s, which timeline.csv cannot hold", f.Name, f.Type))
			}
			if name == "" || name == "-" {
				panic("results: Sample." + f.Name + " has no json name")
			}
			out = append(out, Column{
				Name: name, Unit: f.Tag.Get("unit"), Description: f.Tag.Get("desc"), Part: part,
				index: index, kind: f.Type.Kind(), completed: f.Tag.Get("measured") == "completed",
			})
		}
	}
	walk(reflect.TypeFor[Sample](), nil, PartWindow)
	return out
}
