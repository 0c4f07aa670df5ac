// Command hazard prints the tables of bench/hazard/run.sh from its rows (data/runs.csv): per
// steady Poisson hold rate the hang hazard measured on real sockets (exponential MLE with
// censoring and its exact 95 % interval, from simulator/hazard) and, when the model engine ran
// the same profiles, the model's beside it with the per-seed hang times side by side; the
// onset rate of uniform ramps per pool size; split's capacity.
//
//	go run ./bench/hazard [-data bench/hazard/data] [-model-hazard] [-max-stall 50]
//	hazard -stalls FILE   # run.sh: measure the machine's stalls until SIGTERM
//
// -model-hazard also asks the hazard estimators (hazard.At, on model.Steady systems of the very
// profile run.sh kept in data/profiles) for the hazard at each measured rate. -max-stall leaves
// out the socket runs during which the machine stalled longer than that (see -stalls).
//
// -stalls is the watcher run.sh starts beside every socket run: it sleeps stallTick again and
// again and writes, when stopped, how much later than asked its worst and 99th-percentile
// wake-ups came. Other processes on the 2 cores (compiles, tests) delay the server's wake-ups
// the same way, lengthening the time a page holds its worker; a long stall can by itself fill
// every worker, a hang the model (which knows no other process) cannot predict.
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/simulator/hazard"
	"github.com/simdev/sim/simulator/model"
	"github.com/simdev/sim/simulator/runner"
)

// Calibration goals of issue 13: the model's hazard within a factor of 1.5 of the sockets', its
// onset and capacity within ±5 %, and a seed "matches" when both engines hang within 1 s.
const (
	hazardFactorGoal = 1.5
	onsetGoal        = 0.05
	capacityGoal     = 0.05
	seedMatchS       = 1.0
)

// Engines as written in the rows.
const (
	engineSockets = "sockets"
	engineModel   = "model"
)

// row is one run of run.sh.
type row struct {
	engine, kind      string
	workers           int
	rate              float64
	seed              string
	censorS           float64
	verdict           string
	hung              bool
	obsS              float64 // time to hang, or the exposure of a run that did not hang
	onsetRPS          float64 // NaN without a collapse
	capacityRPS       float64 // NaN unless split
	load1             float64
	stallMaxMS        float64 // NaN when not measured (model runs, older rows)
	complete          bool
	startedUTC, batch string
}

func main() {
	data := flag.String("data", "bench/hazard/data", "folder with runs.csv")
	modelHazard := flag.Bool("model-hazard", false, "also estimate each hold's hazard with hazard.At on the model")
	maxStall := flag.Float64("max-stall", 0, "leave out socket runs whose worst stall exceeded this many ms (0: keep all)")
	stalls := flag.String("stalls", "", "measure the machine's stalls until SIGTERM, then write them to this file")
	flag.Parse()
	if *stalls != "" {
		if err := watchStalls(*stalls); err != nil {
			fmt.Fprintln(os.Stderr, "hazard:", err)
			os.Exit(1)
		}
		return
	}
	rows, err := read(filepath.Join(*data, "runs.csv"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "hazard:", err)
		os.Exit(2)
	}
	rows = dropStalled(os.Stdout, rows, *maxStall)
	w := os.Stdout
	var at func(holdKey) (hazard.Estimate, error)
	if *modelHazard {
		at = func(k holdKey) (hazard.Estimate, error) { return modelAt(*data, k) }
	}
	if err := holds(w, rows, at); err != nil {
		fmt.Fprintln(os.Stderr, "hazard:", err)
		os.Exit(1)
	}
	ramps(w, rows)
	split(w, rows)
}

func read(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, k := range []string{"engine", "kind", "workers", "rate", "seed", "censor_s", "verdict", "hung", "obs_s", "onset_rate_rps", "capacity_rps", "load1", "started_utc"} {
		if _, ok := col[k]; !ok {
			return nil, fmt.Errorf("read %s: no column %q", path, k)
		}
	}
	var rows []row
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		get := func(k string) string { return rec[col[k]] }
		num := func(k string) float64 {
			v, err := strconv.ParseFloat(get(k), 64)
			if err != nil {
				return math.NaN()
			}
			return v
		}
		x := row{
			engine: get("engine"), kind: get("kind"), workers: int(num("workers")), rate: num("rate"),
			seed: get("seed"), censorS: num("censor_s"), verdict: get("verdict"), hung: get("hung") == "true",
			obsS: num("obs_s"), onsetRPS: num("onset_rate_rps"), capacityRPS: num("capacity_rps"),
			load1: num("load1"), startedUTC: get("started_utc"), stallMaxMS: math.NaN(),
		}
		if _, ok := col["stall_max_ms"]; ok {
			x.stallMaxMS = num("stall_max_ms")
		}
		x.complete = x.verdict != "incomplete" && x.verdict != ""
		rows = append(rows, x)
	}
}

// dropStalled leaves out the socket runs whose worst stall exceeded maxMS, and says how many.
func dropStalled(w io.Writer, rows []row, maxMS float64) []row {
	if maxMS <= 0 {
		return rows
	}
	var kept []row
	dropped := map[string]int{}
	for _, x := range rows {
		if x.engine == engineSockets && x.complete && !(x.stallMaxMS <= maxMS) {
			dropped[fmt.Sprintf("%s w%d", x.kind, x.workers)]++
			continue
		}
		kept = append(kept, x)
	}
	var parts []string
	for k, n := range dropped {
		parts = append(parts, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(parts)
	fmt.Fprintf(w, "Left out: socket runs during which the machine stalled more than %g ms (or not measured): %d (%s).\n\n",
		maxMS, len(rows)-len(kept), strings.Join(parts, ", "))
	return kept
}

// stallTick is the watcher's sleep: short next to the 200 ms work time, long enough that the
// watcher costs nothing (100 wake-ups a second).
const stallTick = 10 * time.Millisecond

// watchStalls sleeps stallTick until SIGTERM or SIGINT, then writes "max_ms p99_ms wakeups" of
// the wake-ups' lateness to path.
func watchStalls(path string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var late []float64
	t := time.NewTimer(stallTick)
	defer t.Stop()
	for {
		asked := time.Now()
		t.Reset(stallTick)
		select {
		case <-ctx.Done():
			sort.Float64s(late)
			maxMS, p99 := 0.0, 0.0
			if n := len(late); n > 0 {
				maxMS, p99 = late[n-1], late[(n*99)/100]
			}
			return os.WriteFile(path, fmt.Appendf(nil, "%.2f %.2f %d\n", maxMS, p99, len(late)), 0o644)
		case <-t.C:
			// time.Now, not the value received: that is when the timer fired, and the
			// goroutine may have run much later.
			late = append(late, float64(time.Since(asked)-stallTick)/float64(time.Millisecond))
		}
	}
}

// holdKey is one measured setting: pool size, rate and censoring time.
type holdKey struct {
	workers int
	rate    float64
	censorS float64
}

// modelAt is the model's hazard at k's rate, estimated by hazard.At on steady systems of the
// server and client of the hold profile run.sh kept for k.
func modelAt(data string, k holdKey) (hazard.Estimate, error) {
	path := filepath.Join(data, "profiles", fmt.Sprintf("hold-w%d-r%g.yaml", k.workers, k.rate))
	if _, err := os.Stat(path); err != nil {
		return hazard.Estimate{}, err
	}
	p, err := loadprofiles.Load(path)
	if err != nil {
		return hazard.Estimate{}, err
	}
	cfg, err := runner.ServerConfig("self", p)
	if err != nil {
		return hazard.Estimate{}, fmt.Errorf("profile %s: %w", path, err)
	}
	f, err := model.Steady(cfg, model.SteadyOptions{Client: p.Client})
	if err != nil {
		return hazard.Estimate{}, fmt.Errorf("profile %s: %w", path, err)
	}
	return hazard.At(context.Background(), f, k.rate, hazard.Options{Seed: 1})
}

// holds prints the hold tables; at, if set, is the model's hazard by the estimators.
func holds(w io.Writer, rows []row, at func(holdKey) (hazard.Estimate, error)) error {
	group := map[holdKey]map[string][]row{} // key → engine → runs
	for _, x := range rows {
		if x.kind != "hold" || !x.complete || math.IsNaN(x.obsS) {
			continue
		}
		k := holdKey{x.workers, x.rate, x.censorS}
		if group[k] == nil {
			group[k] = map[string][]row{}
		}
		group[k][x.engine] = append(group[k][x.engine], x)
	}
	keys := sortedKeys(group)
	if len(keys) == 0 {
		return nil
	}
	fmt.Fprintln(w, "## Steady Poisson holds, self topology, 200 ms work: hang hazard (exponential MLE with censoring, exact 95 % interval)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workers | rate rps | hold s | engine | runs | hangs | exposure s | hazard /h | 95 % interval /h | median time to hang s (KM) | hang times s | load1 | worst stall ms |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	type pair struct{ sockets, model hazard.Estimate }
	both := map[holdKey]pair{}
	for _, k := range keys {
		var p pair
		for _, engine := range []string{engineSockets, engineModel} {
			runs := group[k][engine]
			if len(runs) == 0 {
				continue
			}
			var hangTimes []float64
			exposure, load := 0.0, 0.0
			for _, x := range runs {
				exposure += x.obsS
				load += x.load1
				if x.hung {
					hangTimes = append(hangTimes, x.obsS)
				}
			}
			e, err := observed(runs)
			if err != nil {
				return fmt.Errorf("%d workers at %g rps (%s): %w", k.workers, k.rate, engine, err)
			}
			if engine == engineSockets {
				p.sockets = e
			} else {
				p.model = e
			}
			sort.Float64s(hangTimes)
			loadCol, stallCol := fmt.Sprintf("%.1f", load/float64(len(runs))), stallRange(runs)
			if engine == engineModel {
				loadCol, stallCol = "-", "-"
			}
			fmt.Fprintf(w, "| %d | %g | %g | %s | %d | %d | %.0f | %s | %s – %s | %s | %s | %s | %s |\n",
				k.workers, k.rate, k.censorS, engine, len(runs), e.Hangs, exposure, g3(e.PerHour), g3(e.Lower), g3(e.Upper),
				kmMedian(runs), joinTimes(hangTimes), loadCol, stallCol)
		}
		if len(group[k][engineSockets]) > 0 && len(group[k][engineModel]) > 0 {
			both[k] = p
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "KM: Kaplan-Meier median over all runs (runs that did not hang are censored at their exposure); \">\" when fewer than half hung. load1: mean 1-minute load average of the 2 cores when the runs started. worst stall: the range over the runs of the latest wake-up of the stall watcher during each run.")
	fmt.Fprintln(w)
	if at != nil {
		fmt.Fprintln(w, "### Model hazard by the estimators (hazard.At on model.Steady, same server and client) vs sockets")
		fmt.Fprintln(w)
		fmt.Fprintf(w, "| workers | rate rps | sockets hazard /h [95 %%] | model hazard /h [95 %%] | method | model / sockets | intervals overlap | within ×%g |\n", hazardFactorGoal)
		fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
		for _, k := range keys {
			runs := group[k][engineSockets]
			if len(runs) == 0 {
				continue
			}
			s, err := observed(runs)
			if err != nil {
				return err
			}
			m, err := at(k)
			if errors.Is(err, fs.ErrNotExist) {
				continue // a setting measured before run.sh kept its profiles
			}
			if err != nil {
				return fmt.Errorf("model hazard at %d workers, %g rps: %w", k.workers, k.rate, err)
			}
			ratio := m.PerHour / s.PerHour
			fmt.Fprintf(w, "| %d | %g | %s [%s, %s] | %s [%s, %s] | %s | %.2f | %s | %s |\n", k.workers, k.rate,
				g3(s.PerHour), g3(s.Lower), g3(s.Upper), g3(m.PerHour), g3(m.Lower), g3(m.Upper), m.Method, ratio,
				yes(m.Lower <= s.Upper && s.Lower <= m.Upper), yes(ratio <= hazardFactorGoal && ratio >= 1/hazardFactorGoal))
		}
		fmt.Fprintln(w)
	}
	if len(both) == 0 {
		fmt.Fprintln(w, "(no model runs of these profiles yet: ENGINE=model bash bench/hazard/run.sh holds ... runs them)")
		fmt.Fprintln(w)
		return nil
	}
	var total seedAgreement
	fmt.Fprintln(w, "### Model vs sockets, same profiles and seeds (`sim run --engine model`)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| workers | rate rps | sockets hazard /h | model hazard /h | model / sockets | intervals overlap | within ×%g | seeds | hung on both within ±%g s | both, further apart | sockets only | model only | neither |\n", hazardFactorGoal, seedMatchS)
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, k := range keys {
		p, ok := both[k]
		if !ok {
			continue
		}
		ratio := p.model.PerHour / p.sockets.PerHour
		within := ratio <= hazardFactorGoal && ratio >= 1/hazardFactorGoal
		overlap := p.model.Lower <= p.sockets.Upper && p.sockets.Lower <= p.model.Upper
		a := seedMatches(group[k][engineSockets], group[k][engineModel])
		total.add(a)
		fmt.Fprintf(w, "| %d | %g | %s [%s, %s] | %s [%s, %s] | %.2f | %s | %s | %d | %d | %d | %d | %d | %d |\n", k.workers, k.rate,
			g3(p.sockets.PerHour), g3(p.sockets.Lower), g3(p.sockets.Upper), g3(p.model.PerHour), g3(p.model.Lower), g3(p.model.Upper),
			ratio, yes(overlap), yes(within), a.compared, a.withinS, a.bothElsewise, a.onlySockets, a.onlyModel, a.neitherHung)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "All settings: %d seeds run on both engines; %d hung on sockets, %d in the model; %d hung on both within ±%g s, %d on both further apart, %d on sockets only, %d in the model only, %d on neither.\n",
		total.compared, total.socketsHung, total.modelHung, total.withinS, seedMatchS, total.bothElsewise, total.onlySockets, total.onlyModel, total.neitherHung)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Per seed (time to hang in s; \">C\" did not hang within the hold):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workers | rate rps | seed | sockets | model | |Δ| s |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, k := range keys {
		if _, ok := both[k]; !ok {
			continue
		}
		s, m := bySeed(group[k][engineSockets]), bySeed(group[k][engineModel])
		for _, seed := range sortedSeeds(s) {
			b, ok := m[seed]
			if !ok {
				continue
			}
			a := s[seed]
			d := "-"
			if a.hung && b.hung {
				d = fmt.Sprintf("%.1f", math.Abs(a.obsS-b.obsS))
			}
			fmt.Fprintf(w, "| %d | %g | %s | %s | %s | %s |\n", k.workers, k.rate, seed, hangCell(a), hangCell(b), d)
		}
	}
	fmt.Fprintln(w)
	return nil
}

// observed is the exponential MLE of the hazard from runs censored at their exposure.
func observed(runs []row) (hazard.Estimate, error) {
	obs := make([]hazard.Observation, len(runs))
	for i, x := range runs {
		obs[i] = hazard.Observation{Time: time.Duration(x.obsS * float64(time.Second)), Hung: x.hung}
	}
	return hazard.MLE(obs, 0)
}

// stallRange is "min–max" of the runs' worst stalls, "-" when none was measured.
func stallRange(runs []row) string {
	var v []float64
	for _, x := range runs {
		if !math.IsNaN(x.stallMaxMS) {
			v = append(v, x.stallMaxMS)
		}
	}
	if len(v) == 0 {
		return "-"
	}
	_, lo, hi := stats(v)
	return fmt.Sprintf("%.0f–%.0f", lo, hi)
}

// seedAgreement compares the seeds run on both engines.
type seedAgreement struct {
	compared     int // seeds run on both
	socketsHung  int // of those, hung on sockets
	modelHung    int // hung in the model
	withinS      int // hung on both, within seedMatchS of each other
	neitherHung  int
	onlySockets  int // hung on sockets only
	onlyModel    int // hung in the model only
	bothElsewise int // hung on both, further apart
}

func (a *seedAgreement) add(b seedAgreement) {
	a.compared += b.compared
	a.socketsHung += b.socketsHung
	a.modelHung += b.modelHung
	a.withinS += b.withinS
	a.neitherHung += b.neitherHung
	a.onlySockets += b.onlySockets
	a.onlyModel += b.onlyModel
	a.bothElsewise += b.bothElsewise
}

// seedMatches compares, seed by seed, the latest run of each engine.
func seedMatches(sockets, model []row) seedAgreement {
	var a seedAgreement
	s, m := bySeed(sockets), bySeed(model)
	for seed, x := range s {
		y, ok := m[seed]
		if !ok {
			continue
		}
		a.compared++
		if x.hung {
			a.socketsHung++
		}
		if y.hung {
			a.modelHung++
		}
		switch {
		case x.hung && y.hung && math.Abs(x.obsS-y.obsS) <= seedMatchS:
			a.withinS++
		case x.hung && y.hung:
			a.bothElsewise++
		case x.hung:
			a.onlySockets++
		case y.hung:
			a.onlyModel++
		default:
			a.neitherHung++
		}
	}
	return a
}

// bySeed keeps the latest run of each seed.
func bySeed(runs []row) map[string]row {
	m := map[string]row{}
	for _, x := range runs {
		if old, ok := m[x.seed]; !ok || x.startedUTC >= old.startedUTC {
			m[x.seed] = x
		}
	}
	return m
}

func sortedSeeds(m map[string]row) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Slice(s, func(i, j int) bool {
		a, _ := strconv.Atoi(s[i])
		b, _ := strconv.Atoi(s[j])
		return a < b
	})
	return s
}

func hangCell(x row) string {
	if x.hung {
		return fmt.Sprintf("%.1f", x.obsS)
	}
	return fmt.Sprintf(">%g", x.censorS)
}

// kmMedian is the Kaplan-Meier median time to hang: the first hang time at which the estimated
// share of runs still running falls to one half or below.
func kmMedian(runs []row) string {
	sorted := append([]row(nil), runs...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].obsS != sorted[j].obsS {
			return sorted[i].obsS < sorted[j].obsS
		}
		return sorted[i].hung && !sorted[j].hung // a hang at t happens before a censoring at t
	})
	surv, atRisk := 1.0, len(sorted)
	maxObs := 0.0
	for _, x := range sorted {
		if x.hung {
			surv *= 1 - 1/float64(atRisk)
			if surv <= 0.5 {
				return fmt.Sprintf("%.1f", x.obsS)
			}
		}
		atRisk--
		maxObs = max(maxObs, x.obsS)
	}
	return fmt.Sprintf(">%.0f", maxObs)
}

// maxTimesShown bounds the hang times listed in a table cell; the rest are counted.
const maxTimesShown = 12

// joinTimes lists sorted hang times, the first maxTimesShown of them.
func joinTimes(ts []float64) string {
	if len(ts) == 0 {
		return "none"
	}
	var parts []string
	for i, t := range ts {
		if i == maxTimesShown {
			parts = append(parts, fmt.Sprintf("… (%d more)", len(ts)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%.0f", t))
	}
	return strings.Join(parts, ", ")
}

func ramps(w io.Writer, rows []row) {
	type agg struct{ onsets []float64 }
	group := map[int]map[string]*agg{}
	runs := map[int]map[string]int{}
	for _, x := range rows {
		if x.kind != "ramp" || !x.complete {
			continue
		}
		if group[x.workers] == nil {
			group[x.workers], runs[x.workers] = map[string]*agg{}, map[string]int{}
		}
		if group[x.workers][x.engine] == nil {
			group[x.workers][x.engine] = &agg{}
		}
		runs[x.workers][x.engine]++
		if !math.IsNaN(x.onsetRPS) {
			group[x.workers][x.engine].onsets = append(group[x.workers][x.engine].onsets, x.onsetRPS)
		}
	}
	if len(group) == 0 {
		return
	}
	fmt.Fprintln(w, "## Uniform ramps, self topology, 200 ms work: onset rate (offered rate at the hang onset)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| workers | Little's bound rps | sockets runs | sockets onset rps, mean (min–max) | onset / bound | model onset rps | model − sockets | within ±%.0f %% |\n", 100*onsetGoal)
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, n := range sortedInts(group) {
		bound := float64(n) / 0.2
		s, m := group[n][engineSockets], group[n][engineModel]
		sc, mc, diff, ok := "-", "-", "-", "-"
		ratio := "-"
		if s != nil && len(s.onsets) > 0 {
			mean, lo, hi := stats(s.onsets)
			sc = fmt.Sprintf("%.1f (%.1f–%.1f), %d hung", mean, lo, hi, len(s.onsets))
			ratio = fmt.Sprintf("%.2f", mean/bound)
			if m != nil && len(m.onsets) > 0 {
				mm, mlo, mhi := stats(m.onsets)
				mc = fmt.Sprintf("%.1f (%.1f–%.1f)", mm, mlo, mhi)
				d := mm/mean - 1
				diff, ok = fmt.Sprintf("%+.1f %%", 100*d), yes(math.Abs(d) <= onsetGoal)
			}
		}
		fmt.Fprintf(w, "| %d | %.0f | %d | %s | %s | %s | %s | %s |\n", n, bound, runs[n][engineSockets], sc, ratio, mc, diff, ok)
	}
	fmt.Fprintln(w)
}

func split(w io.Writer, rows []row) {
	group := map[int]map[string][]float64{}
	for _, x := range rows {
		if x.kind != "split" || !x.complete || math.IsNaN(x.capacityRPS) {
			continue
		}
		if group[x.workers] == nil {
			group[x.workers] = map[string][]float64{}
		}
		group[x.workers][x.engine] = append(group[x.workers][x.engine], x.capacityRPS)
	}
	if len(group) == 0 {
		return
	}
	fmt.Fprintln(w, "## Split topology over capacity (uniform hold at 1.25 × Little's bound, 10 s client timeout): capacity = mean OK throughput from 5 s to the end of the load")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| workers | Little's bound rps | sockets runs | sockets capacity rps, mean (min–max) | model capacity rps | model − sockets | within ±%.0f %% |\n", 100*capacityGoal)
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, n := range sortedInts(group) {
		s, m := group[n][engineSockets], group[n][engineModel]
		sc, mc, diff, ok := "-", "-", "-", "-"
		if len(s) > 0 {
			mean, lo, hi := stats(s)
			sc = fmt.Sprintf("%.1f (%.1f–%.1f)", mean, lo, hi)
			if len(m) > 0 {
				mm, _, _ := stats(m)
				mc = fmt.Sprintf("%.1f", mm)
				d := mm/mean - 1
				diff, ok = fmt.Sprintf("%+.1f %%", 100*d), yes(math.Abs(d) <= capacityGoal)
			}
		}
		fmt.Fprintf(w, "| %d | %.0f | %d | %s | %s | %s | %s |\n", n, float64(n)/0.2, len(s), sc, mc, diff, ok)
	}
	fmt.Fprintln(w)
}

func stats(v []float64) (mean, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		mean += x
		lo, hi = min(lo, x), max(hi, x)
	}
	return mean / float64(len(v)), lo, hi
}

func sortedKeys[V any](m map[holdKey]V) []holdKey {
	var ks []holdKey
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.workers != b.workers {
			return a.workers < b.workers
		}
		if a.rate != b.rate {
			return a.rate < b.rate
		}
		return a.censorS < b.censorS
	})
	return ks
}

func sortedInts[V any](m map[int]V) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// g3 prints a hazard with three significant digits.
func g3(v float64) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
