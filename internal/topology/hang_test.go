package topology

import (
	"strings"
	"testing"
	"time"
)

// TestWatchdogKeepsTheHang: a watchdog does not take the hang away (its replacement workers take
// dead pages first), so CanHang is unchanged; Watchdog says what it turns the hang into, with
// the pool's drain rate and the model's measured drain, and says nothing without a watchdog or
// for a server that cannot hang.
func TestWatchdogKeepsTheHang(t *testing.T) {
	self := Server{Mechanics: Must(Self).Mechanics, Workers: 16, Unpooled: true}
	if Watchdog(self) != "" || DrainRate(self) != 0 {
		t.Errorf("no watchdog: Watchdog %q, DrainRate %v; want nothing", Watchdog(self), DrainRate(self))
	}
	dog := self
	dog.WorkerTimeout, dog.WorkerBoot = 30*time.Second, 2*time.Second
	if !CanHang(dog) {
		t.Errorf("self with a watchdog: CanHang false (%s), want true", WhyNoHang(dog))
	}
	if got := DrainRate(dog); got != 0.5 {
		t.Errorf("DrainRate = %v, want 16 / 32 s = 0.5", got)
	}
	msg := Watchdog(dog)
	for _, want := range []string{"worker_timeout 30s", "does not end the hang", "16 / 32s = 0.50 pages a second", "1710 s", "848 kills"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Watchdog(...) = %q\nwant it to contain %q", msg, want)
		}
	}
	split := dog
	split.Mechanics = Must(Split).Mechanics
	if got := Watchdog(split); got != "" {
		t.Errorf("split with a watchdog: %q, want nothing (it cannot hang)", got)
	}
}
