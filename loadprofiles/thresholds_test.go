package loadprofiles

import (
	"errors"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

func TestThresholds(t *testing.T) {
	p, err := Parse("t.yaml", []byte("stages: [{duration: 2s, target: 10}]\nthresholds: {p99: 500ms, errors: 1%, hang: forbidden}\n"))
	if err != nil {
		t.Fatal(err)
	}
	th := p.Thresholds
	if th.P99 != 500*time.Millisecond || th.Errors == nil || *th.Errors != 0.01 || th.Hang != HangForbidden || !th.Set() {
		t.Fatalf("thresholds %+v", th)
	}
	p, err = Parse("t.yaml", []byte("stages: [{duration: 2s, target: 10}]\nthresholds: {errors: 0.05}\n"))
	if err != nil || p.Thresholds.Errors == nil || *p.Thresholds.Errors != 0.05 {
		t.Fatalf("errors: 0.05 -> %+v, %v", p.Thresholds, err)
	}
	bad := []struct{ yaml, field string }{
		{"thresholds: {errors: 150%}", "thresholds.errors"},
		{"thresholds: {errors: lots}", "thresholds.errors"},
		{"thresholds: {hang: never}", "thresholds.hang"},
		{"thresholds: {p99: fast}", "thresholds.p99"},
		{"thresholds: {p95: 1s}", "thresholds.p95"},
	}
	for _, b := range bad {
		_, err := Parse("t.yaml", []byte("stages: [{duration: 2s, target: 10}]\n"+b.yaml+"\n"))
		var ie *invalid.Error
		if !errors.As(err, &ie) || ie.Field != b.field {
			t.Errorf("%s: err %v, want an invalid %s", b.yaml, err, b.field)
		}
	}
}
