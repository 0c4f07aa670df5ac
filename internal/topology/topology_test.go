package topology

import (
	"slices"
	"strings"
	"testing"
	"time"
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

// TestCanHang decides "can this hang" on every registered topology's mechanics (and admission
// mode) with and without each timeout: a cycle (the page holds its worker while its self-call
// needs a worker of the same pool, and pages can hold every worker) with no timer on the wait.
func TestCanHang(t *testing.T) {
	cycle := map[string]bool{Self: true, SelfTimeout: true, BoundedQueue: true, AdmissionLimit: true}
	for _, tp := range All() {
		modes := []string{""}
		if tp.Mechanics.Admission {
			modes = AdmissionModes()
		}
		for _, mode := range modes {
			for _, c := range []struct {
				name          string
				lease, socket time.Duration
				leases        int
				unpooled      bool
				timerless     bool
			}{
				{"no timeouts", 0, 0, 2, false, true},
				{"socket_timeout", 0, time.Second, 2, false, false},
				{"connection_request_timeout", time.Second, 0, 2, false, false},
				{"connection_request_timeout, a lease per worker", time.Second, 0, 16, false, true},
				{"both", time.Second, time.Second, 16, false, false},
				// Without a pool no page waits for a lease: its timeout never runs.
				{"connection_request_timeout, no pool", time.Second, 0, 2, true, true},
				{"socket_timeout, no pool", 0, time.Second, 2, true, false},
			} {
				s := Server{Mechanics: tp.Mechanics, Workers: 16, Admission: mode, Reserve: 1,
					Leases: c.leases, LeaseTimeout: c.lease, SocketTimeout: c.socket, Unpooled: c.unpooled}
				known, inCycle := cycle[tp.Name]
				if !known {
					continue // a topology added later: TestModelAgreesWithCanHang runs it
				}
				want := inCycle && (mode == "" || mode == AdmitWait) && c.timerless
				if got, why := CanHang(s), WhyNoHang(s); got != want || got != (why == "") {
					t.Errorf("%s (admission %q) with %s: CanHang %v (%q), want %v", tp.Name, mode, c.name, got, why, want)
				}
			}
		}
	}
	// A front proxy's read timeout ends a stuck self-call as socket_timeout does, and says
	// plainly that the pool drains slowly.
	s := Server{Mechanics: Mechanics{Fragment: FromSelf}, Workers: 16, Leases: 2, Unpooled: true, ProxyTimeout: time.Minute}
	if why := WhyNoHang(s); CanHang(s) || !strings.Contains(why, "proxy_read_timeout 1m0s") || !strings.Contains(why, "16 pages per 1m0s") {
		t.Errorf("front proxy with a read timeout: CanHang %v, WhyNoHang %q", CanHang(s), why)
	}
	if s.ProxyTimeout = 0; !CanHang(s) {
		t.Error("a front proxy without a read timeout: CanHang says no")
	}
	// Mechanics, not names: an admission limit that reserves no worker (which the keys' checks
	// refuse today) lets pages hold every worker, whatever its mode.
	if !CanHang(Server{Mechanics: Mechanics{Fragment: FromSelf, Admission: true}, Workers: 4, Admission: AdmitReject, Leases: 2}) {
		t.Error("an admission limit that reserves no worker keeps the cycle, CanHang says no")
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

// TestWhyNoHangRetries: Puma's self-call (Net::HTTP: socket_timeout 60 s, one retry) cannot hang
// for good, and the reason says how long a stuck page waits: both timeouts, 2 minutes.
func TestWhyNoHangRetries(t *testing.T) {
	s := Server{Mechanics: Must(Self).Mechanics, Workers: 16, Leases: 2, Unpooled: true,
		SocketTimeout: time.Minute, Retries: 1}
	why := WhyNoHang(s)
	if CanHang(s) {
		t.Fatal("socket_timeout with a retry: CanHang says yes")
	}
	for _, want := range []string{"selfcall_retries 1", "new connection", "2m0s (2 × 1m0s)"} {
		if !strings.Contains(why, want) {
			t.Errorf("reason %q lacks %q", why, want)
		}
	}
	// Retries alone (no socket timeout) never fire: the call waits for ever.
	s.SocketTimeout = 0
	if !CanHang(s) {
		t.Errorf("retries without socket_timeout: CanHang says no (%q)", WhyNoHang(s))
	}
}
