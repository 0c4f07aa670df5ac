package planner

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/simdev/sim/results"
)

// warnings are what the user asked for that weakens the plan.
func warnings(o Options, p *results.Plan) []string {
	var w []string
	if p.Hangs() && !slices.Contains(o.Arrivals, Poisson) {
		w = append(w, "planned from evenly paced arrivals only (--arrivals uniform): their rate is a best case that real traffic never gives, "+
			"because random arrivals hang the self topology far below it; add --arrivals poisson for a rate with a hang risk over a horizon")
	}
	return w
}

// recommend is the answer in plain words: the rate per pool size, how rare a hang is there, that
// sizing cannot make a self-call cycle safe, and what can.
func recommend(p *results.Plan) string {
	if len(p.Rows) == 0 {
		return ""
	}
	var b strings.Builder
	if !p.Hangs() {
		for _, r := range p.Rows {
			if r.SustainedRPS == nil || *r.SustainedRPS == 0 {
				fmt.Fprintf(&b, "With %d workers the %s topology missed the SLO even at the lowest rate searched (%s arrivals). ", r.MaxThreads, p.Topology, r.Arrivals)
				continue
			}
			fmt.Fprintf(&b, "With %d workers the %s topology serves up to %s rps within the SLO (%s arrivals; Little's law %s). ",
				r.MaxThreads, p.Topology, rps(r.SafeRPS), r.Arrivals, rps(r.PredictedRPS))
		}
		switch {
		case p.TimerEndsHang:
			// A timer, not the shape, keeps it from the deadlock: say which, and what it costs.
			b.WriteString("It cannot hang for good, but only because of a timer: " + p.NoHang + ". A burst that puts a page on every worker stalls it as the deadlock does until that timer frees them, " +
				"and the requests that waited meanwhile may fill it again: measure the stall with sim run (its verdict says how long it was stuck after the load). ")
		case p.NoHang != "":
			b.WriteString("It has no absorbing hang state (" + p.NoHang + "), so it does not hang: beyond its capacity it saturates and recovers once the load drops. ")
		default:
			b.WriteString("It has no absorbing hang state (no worker waits for a worker for good), so it does not hang: beyond its capacity it saturates and recovers once the load drops. ")
		}
		b.WriteString("Size the pool for the peak rate with Little's law (workers = rate × time per page) plus headroom.")
		if pk := p.Peak; pk != nil {
			b.WriteString(" " + peakText(p, pk))
		}
		return b.String()
	}

	rows := planRows(p)
	risk := slices.ContainsFunc(rows, func(r results.PlanRow) bool { return r.Arrivals == Poisson })
	switch {
	case len(rows) == 0:
		b.WriteString("No pool size gave a rate to recommend. ")
	case risk && len(rows) == 1:
		r := rows[0]
		fmt.Fprintf(&b, "With %d workers and %s ms of work per page, keep the average rate at or below %s rps%s: there the model's hang hazard is %s, "+
			"at most a %s chance of a hang within %s. That is %s. ",
			r.MaxThreads, ms(p.WorkTimeS), rps(r.SafeRPS), sloNote(r), hazardText(r), percent(p.Risk), results.HorizonText(p.HorizonS), rarity(r))
	case risk:
		var parts []string
		worst := 0.0 // the highest hazard any row's interval allows
		for _, r := range rows {
			parts = append(parts, fmt.Sprintf("%s rps with %d workers%s", rps(r.SafeRPS), r.MaxThreads, sloNote(r)))
			worst = max(worst, *r.HazardPerHour)
			if r.HazardCI != nil {
				worst = max(worst, r.HazardCI.Hi)
			}
		}
		fmt.Fprintf(&b, "With %s ms of work per page, keep the average rate at or below %s. At each the chance of a hang within %s is at most %s: "+
			"at worst one hang in %s of that traffic (the upper end of the 95 %% interval). ",
			ms(p.WorkTimeS), strings.Join(parts, ", "), results.HorizonText(p.HorizonS), percent(p.Risk), strings.TrimPrefix(results.HangEvery(worst), "about "))
	default:
		var parts []string
		for _, r := range rows {
			parts = append(parts, fmt.Sprintf("%s rps with %d workers", rps(r.SafeRPS), r.MaxThreads))
		}
		fmt.Fprintf(&b, "Evenly paced load hangs from %s in the model. That is a best case that real traffic never gives: random arrivals hang it far below, "+
			"so these rates are not safe; plan with --arrivals poisson. ", strings.Join(parts, ", "))
	}
	if risk {
		b.WriteString("Plan from the Poisson rows: the evenly paced rate is a best case that real traffic never gives. ")
	}
	if pk := p.Peak; pk != nil {
		b.WriteString(peakText(p, pk) + " ")
	}
	b.WriteString("Sizing alone cannot make a self-call topology without timeouts safe, only make its hang rare: random arrivals can put a page on every worker at once " +
		"at any rate, and then it hangs for good and does not recover when the load drops. Fewer requests or more workers make that rarer, never impossible. " +
		"To make it impossible, remove the cycle: serve the static file from a separate server (split), give the self-call timeouts, put static paths on a pool of their own (bulkhead), " +
		"release the worker during the self-call (async), or read the file in process instead of over HTTP.")
	return b.String()
}

// planRows are the rows the recommendation is made from: the Poisson rows when there are any,
// else the evenly paced ones (the user insisted), without rows that found no rate.
func planRows(p *results.Plan) []results.PlanRow {
	arrivals := Uniform
	if slices.ContainsFunc(p.Rows, func(r results.PlanRow) bool { return r.Arrivals == Poisson }) {
		arrivals = Poisson
	}
	var rows []results.PlanRow
	for _, r := range p.Rows {
		if r.Arrivals != arrivals || r.SafeRPS <= 0 || (arrivals == Poisson && r.HazardPerHour == nil) {
			continue
		}
		rows = append(rows, r)
	}
	return rows
}

func peakText(p *results.Plan, pk *results.PlanPeak) string {
	if pk.Workers == 0 {
		return fmt.Sprintf("For a peak of %s rps no pool of up to %d workers is within the budget.", num(pk.RateRPS), pk.SearchedMax)
	}
	switch pk.Basis {
	case results.BasisRisk:
		return fmt.Sprintf("For a peak of %s rps (Poisson) at least %d workers keep the chance of a hang within %s at or below %s (hazard %s per hour).",
			num(pk.RateRPS), pk.Workers, results.HorizonText(p.HorizonS), percent(p.Risk), results.FormatHazard(*pk.HazardPerHour))
	case results.BasisThreshold:
		return fmt.Sprintf("For a peak of %s rps evenly paced, %d workers put Little's bound above it: a best case, not a safe size.", num(pk.RateRPS), pk.Workers)
	}
	return fmt.Sprintf("For a peak of %s rps (%s) at least %d workers meet the SLO.", num(pk.RateRPS), pk.Arrivals, pk.Workers)
}

// explain says how to read the plan, in short paragraphs.
func explain(p *results.Plan) []string {
	var out []string
	engine := "the virtual-time model"
	if p.Engine == results.EngineSockets {
		engine = "the real server on loopback sockets"
	}
	hold := ms(p.WorkTimeS + p.SelfCallS)
	if p.Hangs() {
		out = append(out,
			fmt.Sprintf("Safe rate: the highest average rate whose chance of a hang within %s is at most %s, that is a hang hazard of at most %s per hour of steady traffic "+
				"(one hang in %s). The hazard comes from the virtual-time model of the server under steady Poisson arrivals, by a rare-event method, with a 95 %% interval.",
				results.HorizonText(p.HorizonS), percent(p.Risk), results.FormatHazard(p.BudgetPerHour), strings.TrimPrefix(results.HangEvery(p.BudgetPerHour), "about ")),
			"Why a risk and not a threshold: with an unbounded FIFO queue and no timeouts, the moment every worker holds a page, each page's self-call waits "+
				"behind them for a worker that never frees, and the server hangs for good. Random arrivals reach that moment at any average rate; the rate only sets how "+
				"often, and the hazard falls very steeply as the rate drops (the curve).")
		if p.Watchdog != "" {
			out = append(out, "With a watchdog: "+p.Watchdog+". So the risk planned here is the risk of entering that state; "+
				"the watchdog does not bring the server back while the traffic lasts.")
		}
		if rows := planRows(p); len(rows) > 0 && rows[0].Arrivals == Poisson {
			r := rows[0]
			out = append(out, fmt.Sprintf("What the hazard leaves out: pauses. The model's server never stops, but a real one does (garbage collection, "+
				"CPU starvation, swapping). A pause in which as many pages arrive as there are workers fills the pool with pages at once when it ends, "+
				"and hangs it too: with %d workers at %s rps, a pause of about %s s. On a machine that stalls, the real hazard is higher than the plan's.",
				r.MaxThreads, rps(r.SafeRPS), strconv.FormatFloat(float64(r.MaxThreads)/r.SafeRPS, 'g', 2, 64)))
		}
		if slices.ContainsFunc(p.Rows, func(r results.PlanRow) bool { return r.Arrivals == Uniform }) {
			out = append(out, "Evenly paced arrivals (the uniform rows) are deterministic in the model: no hang below a threshold near Little's law, a hang soon above it. "+
				"That threshold is a best case that real traffic never gives; use the Poisson rows.")
		}
	} else {
		out = append(out, "The "+p.Topology+" topology cannot hang for good (no worker waits for good for another worker), so it has no hang hazard: beyond its capacity requests queue, time out or are refused, and it recovers as soon as the load drops. "+
			"Its safe rate is the highest rate that met the SLO, at most Little's law: a short hold above capacity can meet the SLO while its queue grows.")
	}
	out = append(out, fmt.Sprintf("Little's law: a page holds its worker for work_time plus its self-call (%s ms), so N workers serve at most N / %s s pages a second. "+
		"Evenly paced self load hangs near it and split saturates at it; measured/predicted compares the measured threshold (or the SLO rate) with it.",
		hold, strconv.FormatFloat(p.WorkTimeS+p.SelfCallS, 'g', 3, 64)))
	if slices.ContainsFunc(p.Rows, func(r results.PlanRow) bool { return r.SustainedRPS != nil }) {
		out = append(out, fmt.Sprintf("SLO rate: the highest constant rate with p99 ≤ %s ms, errors ≤ %s and no hang, by bisection on %s. Where it is lower than the risk allows, it sets the safe rate.",
			strconv.FormatFloat(p.SLO.P99MS, 'f', -1, 64), percent(p.SLO.ErrorRate), engine))
	}
	return out
}

// rarity says how rare a hang is at the row's safe rate: at worst (the interval's upper end,
// which the safe rate was judged by) and at the estimate.
func rarity(r results.PlanRow) string {
	est := strings.TrimPrefix(results.HangEvery(*r.HazardPerHour), "about ")
	if ci := r.HazardCI; ci != nil && ci.Hi > *r.HazardPerHour {
		return fmt.Sprintf("at worst one hang in %s of this traffic (the interval's upper end; one in %s at the model's estimate)",
			strings.TrimPrefix(results.HangEvery(ci.Hi), "about "), est)
	}
	return "about one hang in " + est + " of this traffic"
}

// sloNote marks a rate that the SLO, not the risk, set.
func sloNote(r results.PlanRow) string {
	if r.Basis == results.BasisSLO {
		return " (the SLO binds first)"
	}
	return ""
}

func hazardText(r results.PlanRow) string {
	s := results.FormatHazard(*r.HazardPerHour) + " per hour"
	if ci := r.HazardCI; ci != nil && ci.Hi > 0 {
		s += fmt.Sprintf(" (%.0f %% interval %s to %s)", 100*ci.Level, results.FormatHazard(ci.Lo), results.FormatHazard(ci.Hi))
	}
	return s
}

// rps writes a safe rate rounded down, so the text never names a rate above the one planned.
func rps(r float64) string {
	if r >= 100 {
		return strconv.FormatFloat(math.Floor(r), 'f', 0, 64)
	}
	return strconv.FormatFloat(math.Floor(r*10)/10, 'f', 1, 64)
}

// num writes a number the user gave as they would.
func num(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }

func ms(s float64) string { return strconv.FormatFloat(math.Round(s*1000), 'f', -1, 64) }

func percent(f float64) string { return strconv.FormatFloat(100*f, 'g', 3, 64) + " %" }
