package hazard

import (
	"math"
	"testing"
)

// The quantiles behind every interval, against published tables (NIST/SEMATECH e-Handbook
// 1.3.6.7.3 and 1.3.6.7.4).
func TestQuantilesMatchTables(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"chi2 0.95 df1", chi2Quantile(0.95, 1), 3.841},
		{"chi2 0.975 df2", chi2Quantile(0.975, 2), 7.378},
		{"chi2 0.025 df10", chi2Quantile(0.025, 10), 3.247},
		{"chi2 0.975 df10", chi2Quantile(0.975, 10), 20.483},
		{"chi2 0.05 df100", chi2Quantile(0.05, 100), 77.929},
		{"chi2 0.99 df100", chi2Quantile(0.99, 100), 135.807},
		{"t 0.975 df1", tQuantile(0.975, 1), 12.706},
		{"t 0.975 df7", tQuantile(0.975, 7), 2.365},
		{"t 0.995 df7", tQuantile(0.995, 7), 3.499},
		{"t 0.95 df30", tQuantile(0.95, 30), 1.697},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if math.Abs(tt.got-tt.want) > 0.0006*tt.want+0.0005 {
				t.Errorf("got %.4f, table says %.3f", tt.got, tt.want)
			}
		})
	}
	if q := chi2Quantile(0.025, 0); q != 0 {
		t.Errorf("chi2 with 0 degrees of freedom (no event) = %g, want 0", q)
	}
}
