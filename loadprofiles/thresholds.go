package loadprofiles

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// Thresholds are pass/fail criteria, as k6 users expect them: `sim run` and `sim compare` exit 1
// when a run breaches one, and say which.
//
//	thresholds: {p99: 500ms, errors: 1%, hang: forbidden}
type Thresholds struct {
	// P99 is the highest whole-run p99 latency; 0 means no threshold.
	P99 time.Duration `yaml:"p99" mapstructure:"p99" json:"p99,omitempty"`
	// Errors is the highest share of failed requests (0.01 or "1%"); nil means no threshold.
	Errors *Fraction `yaml:"errors" mapstructure:"errors" json:"errors,omitempty"`
	// Hang is HangForbidden to fail a run that hangs; "" or HangAllowed not to.
	Hang string `yaml:"hang" mapstructure:"hang" json:"hang,omitempty"`
}

// Values of Thresholds.Hang.
const (
	HangAllowed   = "allowed"
	HangForbidden = "forbidden"
)

// Fraction is a share between 0 and 1, written as 0.01 or "1%".
type Fraction float64

// String renders it as a percentage.
func (f Fraction) String() string { return strconv.FormatFloat(float64(f)*100, 'g', -1, 64) + "%" }

// Set reports whether any threshold is set.
func (t Thresholds) Set() bool { return t.P99 > 0 || t.Errors != nil || t.Hang == HangForbidden }

func (t Thresholds) check() error {
	if t.P99 < 0 {
		return invalid.Field("thresholds.p99", t.P99, "a duration >= 0 (0 = none), such as 500ms")
	}
	// NaN first: it compares false with both bounds, and a NaN threshold can never be breached.
	if t.Errors != nil && (math.IsNaN(float64(*t.Errors)) || *t.Errors < 0 || *t.Errors > 1) {
		return invalid.Field("thresholds.errors", t.Errors.String(), "a share from 0% to 100%, such as 1% or 0.01")
	}
	switch t.Hang {
	case "", HangAllowed, HangForbidden:
	default:
		return invalid.Field("thresholds.hang", t.Hang, "allowed or forbidden")
	}
	return nil
}

// fractionHook decodes "1%" and 0.01 into a Fraction.
func fractionHook(to reflect.Type, data any) (any, bool, error) {
	if to != reflect.TypeFor[Fraction]() && to != reflect.TypeFor[*Fraction]() {
		return nil, false, nil
	}
	switch v := data.(type) {
	case Fraction, *Fraction:
		return v, true, nil
	case string:
		s := strings.TrimSpace(v)
		div := 1.0
		if strings.HasSuffix(s, "%") {
			s, div = strings.TrimSpace(strings.TrimSuffix(s, "%")), 100
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, true, &wantError{"a share such as 1% or 0.01"}
		}
		return Fraction(f / div), true, nil
	case int:
		return Fraction(v), true, nil
	case int64:
		return Fraction(v), true, nil
	case float64:
		return Fraction(v), true, nil
	}
	return nil, true, &wantError{fmt.Sprintf("a share such as 1%% or 0.01, not %T", data)}
}
