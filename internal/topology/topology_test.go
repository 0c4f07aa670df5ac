package topology

import (
	"slices"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	// Issue 11's eight, in this order among whatever else is registered: the incident first.
	want := []string{Self, Split, SelfTimeout, Bulkhead, BoundedQueue, AdmissionLimit, Async, InProc}
	var got []string
	for _, name := range Names() {
		if slices.Contains(want, name) {
			got = append(got, name)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || Names()[0] != Self {
		t.Fatalf("Names() = %v, want %v among them in that order, self first", Names(), want)
	}
	orders := map[int]string{}
	for _, tp := range All() {
		if prev, dup := orders[tp.Order]; dup {
			t.Errorf("%s and %s share Order %d: the list order would depend on the map", prev, tp.Name, tp.Order)
		}
		orders[tp.Order] = tp.Name
	}
	colors, labels := map[string]string{}, map[string]string{}
	for _, tp := range All() {
		if prev, dup := colors[tp.Color]; dup {
			t.Errorf("%s and %s share colour %s", prev, tp.Name, tp.Color)
		}
		colors[tp.Color] = tp.Name
		if prev, dup := labels[tp.Label]; dup {
			t.Errorf("%s and %s share label %q", prev, tp.Name, tp.Label)
		}
		labels[tp.Label] = tp.Name
		if tp.Summary == "" || tp.Counterpart == "" || tp.Cost == "" {
			t.Errorf("%s: summary, counterpart and cost are help and README text, all required", tp.Name)
		}
	}
}

func TestCanHang(t *testing.T) {
	knobs := func(admission string) Knobs {
		return func(key string) string {
			if key == "admission" {
				return admission
			}
			return ""
		}
	}
	for _, c := range []struct {
		name, admission string
		want            bool
	}{
		{Self, AdmitWait, true}, {Split, AdmitWait, false}, {SelfTimeout, AdmitWait, false},
		{Bulkhead, AdmitWait, false}, {BoundedQueue, AdmitWait, true}, {Async, AdmitWait, false},
		{InProc, AdmitWait, false},
		{AdmissionLimit, AdmitWait, true}, {AdmissionLimit, AdmitReject, false}, {AdmissionLimit, AdmitQueue, false},
	} {
		if got := Must(c.name).CanHang(knobs(c.admission)); got != c.want {
			t.Errorf("%s with admission %s: CanHang %v, want %v", c.name, c.admission, got, c.want)
		}
	}
}

func TestListeners(t *testing.T) {
	for _, c := range []struct {
		name     string
		external bool
		want     string
	}{
		{Self, false, "app,admin"}, {Split, false, "app,admin,static"}, {Split, true, "app,admin"},
		{Bulkhead, false, "app,admin,static"}, {InProc, false, "app,admin"},
	} {
		if got := strings.Join(Must(c.name).Listeners(c.external), ","); got != c.want {
			t.Errorf("%s (static.url set: %v): listeners %s, want %s", c.name, c.external, got, c.want)
		}
	}
}

func TestParseList(t *testing.T) {
	got, err := ParseList("all")
	if err != nil || len(got) != len(All()) {
		t.Fatalf("ParseList(all) = %v, %v", got, err)
	}
	got, err = ParseList("split, self")
	if err != nil || strings.Join(got, ",") != "split,self" {
		t.Fatalf("ParseList(split, self) = %v, %v: want the order given", got, err)
	}
	for _, bad := range []string{"", "self,", "selff", "self,self", "all,self"} {
		if _, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) accepted", bad)
		} else if bad == "selff" && !strings.Contains(err.Error(), "bounded-queue") {
			t.Errorf("ParseList(%q): %v does not list the topologies", bad, err)
		}
	}
}

func TestLabelColorUnknown(t *testing.T) {
	if Label("ninth") != "ninth" || Color("ninth") != unknownColor {
		t.Fatalf("an unknown topology (a newer record) is drawn as itself in grey")
	}
	if Label(Self) != "self (incident)" || Color(Split) != "#1f77b4" {
		t.Fatalf("labels and colours come from the registry")
	}
}
