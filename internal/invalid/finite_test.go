package invalid

import (
	"math"
	"strings"
	"testing"
)

// NaN passes any range check written as "x < lo || x > hi"; Finite catches it and the
// infinities, and names the field.
func TestFinite(t *testing.T) {
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		err := Finite("thresholds.errors", x)
		if !Is(err) || !strings.HasPrefix(err.Error(), "thresholds.errors: ") || !strings.Contains(err.Error(), "finite") {
			t.Errorf("Finite(%v) = %v, want an *Error naming the field", x, err)
		}
	}
	for _, x := range []float64{0, -1, 1e308, math.SmallestNonzeroFloat64} {
		if err := Finite("x", x); err != nil {
			t.Errorf("Finite(%v) = %v, want nil", x, err)
		}
	}
}

// A message quotes at most a couple of hundred characters of the value: a whole list the user
// wrote would bury what the message says.
func TestLongValueIsCut(t *testing.T) {
	long := strings.Repeat("1 ", 100_000)
	for _, v := range []any{long, []string{long}} {
		msg := Field("seed", v, "a whole number").Error()
		if len(msg) > 400 || !strings.Contains(msg, "in all") || !strings.HasSuffix(msg, "(allowed: a whole number)") {
			t.Errorf("message of %d bytes: %.300q", len(msg), msg)
		}
	}
	if msg := Field("seed", "short", "x").Error(); msg != `seed: "short" is not allowed (allowed: x)` {
		t.Errorf("short value: %q", msg)
	}
}
