package hazard

import "math"

// The special functions behind the exact intervals: the regularized incomplete gamma and beta
// functions (continued fractions as in Numerical Recipes, ch. 6.2 and 6.4) and quantiles found
// by bisection on them. Written here rather than importing gonum/stat so that the estimators
// stay free of a new dependency; they are checked against published table values in the tests.

const (
	// specialEps is the relative accuracy the series and continued fractions stop at.
	specialEps = 1e-15
	// specialIter bounds their iterations; a ≤ 10⁶ converges in far fewer.
	specialIter = 100000
	// quantileIter bounds the bisection of a quantile: 200 halvings exhaust a float64.
	quantileIter = 200
)

// gammaP is the regularized lower incomplete gamma function P(a, x) for a > 0, x ≥ 0.
func gammaP(a, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case math.IsInf(x, 1):
		return 1
	case x < a+1:
		return gammaSeries(a, x)
	default:
		return 1 - gammaContinued(a, x)
	}
}

// gammaSeries is P(a, x) by its power series, which converges fast for x < a+1.
func gammaSeries(a, x float64) float64 {
	lg, _ := math.Lgamma(a)
	ap, sum := a, 1/a
	del := sum
	for range specialIter {
		ap++
		del *= x / ap
		sum += del
		if math.Abs(del) < math.Abs(sum)*specialEps {
			break
		}
	}
	return sum * math.Exp(-x+a*math.Log(x)-lg)
}

// gammaContinued is Q(a, x) = 1 − P(a, x) by Lentz's continued fraction, for x ≥ a+1.
func gammaContinued(a, x float64) float64 {
	const tiny = 1e-300
	lg, _ := math.Lgamma(a)
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i <= specialIter; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < specialEps {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lg) * h
}

// betaI is the regularized incomplete beta function I_x(a, b).
func betaI(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaContinued(a, b, x) / a
	}
	return 1 - front*betaContinued(b, a, 1-x)/b
}

// betaContinued is the continued fraction of the incomplete beta function (modified Lentz).
func betaContinued(a, b, x float64) float64 {
	const tiny = 1e-300
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= specialIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < specialEps {
			break
		}
	}
	return h
}

// chi2Quantile is the p-quantile of the chi-square distribution with df degrees of freedom.
// df = 0 is the point mass at 0 (the lower end of an exact interval with no event).
func chi2Quantile(p, df float64) float64 {
	if df <= 0 || p <= 0 {
		return 0
	}
	cdf := func(x float64) float64 { return gammaP(df/2, x/2) }
	hi := df + 10*math.Sqrt(2*df) + 10
	for cdf(hi) < p {
		hi *= 2
	}
	return bisect(cdf, p, 0, hi)
}

// tQuantile is the p-quantile (p ≥ 0.5) of Student's t distribution with df degrees of freedom.
func tQuantile(p, df float64) float64 {
	if p <= 0.5 {
		return 0
	}
	cdf := func(t float64) float64 { return 1 - 0.5*betaI(df/2, 0.5, df/(df+t*t)) }
	hi := 10.0
	for cdf(hi) < p {
		hi *= 2
	}
	return bisect(cdf, p, 0, hi)
}

// bisect finds x in [lo, hi] with cdf(x) = p for a non-decreasing cdf.
func bisect(cdf func(float64) float64, p, lo, hi float64) float64 {
	for range quantileIter {
		mid := (lo + hi) / 2
		if mid == lo || mid == hi {
			break
		}
		if cdf(mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}
