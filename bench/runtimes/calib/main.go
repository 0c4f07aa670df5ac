// Command calib prints the runtimes' calibration tables (issue 17 item 3): for each runtime, the
// real runtime's figures from its rig (bench/runtimes/data/rigs: the rows each rig run appended
// and its socket census) beside sim's on both engines (the records bench/runtimes/calibrate.sh
// wrote), with the targets checked: onset within 5 %, peak CLOSE_WAIT within 10 %, the
// same recovery behaviour, same-seed hangs within a second.
//
//	go run ./bench/runtimes/calib -rigs bench/runtimes/data/rigs -sim OUT
package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/simdev/sim/results"
)

// rigRow is one line of a rig's rows.jsonl (bench/runtimes/lib.sh writes them).
type rigRow struct {
	Rig            string         `json:"rig"`
	Run            string         `json:"run"`
	Verdict        string         `json:"verdict"`
	OnsetRateRPS   *float64       `json:"onset_rate_rps"`
	HangAfterStart *float64       `json:"hang_after_stage_start_s"`
	CapacityRPS    *float64       `json:"capacity_rps"`
	PeakCloseWait  int            `json:"peak_close_wait"`
	Recovered      bool           `json:"recovered"`
	RecoveryS      *float64       `json:"recovery_s"`
	OwnAnswered    string         `json:"own_answered_after"`
	Events         map[string]any `json:"events"`
	file           string
}

// census is the peak of a rig's census.csv: server-side CLOSE_WAIT, held by the app or in the
// backlog, on the port that had most.
type census struct {
	port                 string
	closeWait, held, bkl int
}

// runtimeRigs names each runtime's rig files: the ramps (more than one when repeated), the
// split, and the holds, quiet re-runs (-w, with the stall watcher) first.
var runtimeRigs = map[string]struct {
	ramps []string
	split string
	holds []string
	note  string
}{
	"gunicorn": {ramps: []string{"gunicorn-ramp", "gunicorn-ramp-repeat", "gunicorn-ramp-quiet"}, split: "gunicorn-split", holds: []string{"gunicorn-hold-w", "gunicorn-hold"}},
	"php-fpm": {ramps: []string{"php-fpm-static-ramp"}, split: "php-fpm-split", holds: []string{"php-fpm-static-hold"},
		note: "the rig's pm = static, 16 children (Debian's pm = dynamic hung at 20 rps: php-fpm-ramp)"},
	"puma":  {ramps: []string{"puma-ramp"}, split: "puma-split-quiet", holds: []string{"puma-hold-w", "puma-hold"}},
	"jetty": {ramps: []string{"jetty-ramp"}, split: "jetty-split-quiet", holds: []string{"jetty-hold-w", "jetty-hold"}},
}

func main() {
	rigs := flag.String("rigs", "bench/runtimes/data/rigs", "folder of the rigs' rows (NAME.jsonl) and census (NAME.census.csv)")
	sim := flag.String("sim", "", "calibrate.sh's output folder: RUNTIME/ENGINE/MODE/<record>")
	only := flag.String("runtimes", "gunicorn,php-fpm,puma,jetty", "runtimes to print, comma separated")
	seeds := flag.String("seeds", "1,2,3,4,5", "hold seeds")
	flag.Parse()
	if *sim == "" {
		fmt.Fprintln(os.Stderr, "calib: -sim is required")
		os.Exit(2)
	}
	for _, rt := range strings.Split(*only, ",") {
		spec, ok := runtimeRigs[rt]
		if !ok {
			fmt.Fprintf(os.Stderr, "calib: no rig for runtime %q\n", rt)
			os.Exit(2)
		}
		fmt.Printf("### %s\n\n", rt)
		if spec.note != "" {
			fmt.Printf("Real: %s.\n\n", spec.note)
		}
		ramp(*rigs, *sim, rt, spec.ramps, spec.split)
		holds(*rigs, *sim, rt, spec.holds, strings.Split(*seeds, ","))
	}
}

func ramp(rigs, sim, rt string, rampFiles []string, splitFile string) {
	fmt.Println("| uniform ramp (ramp.yaml, 120 s of probes) | real | sockets | model | targets |")
	fmt.Println("| --- | --- | --- | --- | --- |")
	var real []rigRow
	var cs []census
	for _, f := range rampFiles {
		rows := readRows(filepath.Join(rigs, f+".jsonl"))
		real = append(real, rows...)
		cs = append(cs, readCensus(filepath.Join(rigs, f+".census.csv")))
	}
	sock, model := record(sim, rt, "sockets", "ramp"), record(sim, rt, "model", "ramp")
	join := func(f func(r rigRow, c census) string) string {
		var parts []string
		for i, r := range real {
			parts = append(parts, f(r, cs[i]))
		}
		return strings.Join(parts, "; ")
	}
	// Onset.
	realOnsets := []float64{}
	for _, r := range real {
		if r.OnsetRateRPS != nil {
			realOnsets = append(realOnsets, *r.OnsetRateRPS)
		}
	}
	fmt.Printf("| collapse onset, rps offered | %s | %s | %s | %s |\n",
		join(func(r rigRow, _ census) string { return optRate(r.OnsetRateRPS) }),
		simRate(sock, func(s results.Summary) *float64 { return s.OnsetRateRPS }),
		simRate(model, func(s results.Summary) *float64 { return s.OnsetRateRPS }),
		within(realOnsets, onset(sock), onset(model), 0.05))
	// Peak CLOSE_WAIT and where.
	realCW := []float64{}
	for _, c := range cs {
		realCW = append(realCW, float64(c.closeWait))
	}
	fmt.Printf("| peak CLOSE_WAIT (rig census: held by the app / in the backlog; sim: peak accept queue) | %s | %s | %s | %s |\n",
		join(func(_ rigRow, c census) string {
			return fmt.Sprintf("%d (%d / %d)", c.closeWait, c.held, c.bkl)
		}), cwText(sock), cwText(model), within(realCW, cw(sock), cw(model), 0.10))
	// Recovery.
	fmt.Printf("| after the load | %s | %s | %s | %s |\n",
		join(func(r rigRow, _ census) string { return realRecovery(r) }),
		recText(sock), recText(model), sameRecovery(real, sock, model))
	fmt.Printf("| runtime's own events | %s | %s | %s | |\n", join(func(r rigRow, _ census) string { return events(r) }), simEvents(sock), simEvents(model))
	fmt.Printf("| sim's verdict | %s | %s | %s | |\n", join(func(r rigRow, _ census) string { return "(rig, as sim read it then) " + r.Verdict }), verdict(sock), verdict(model))
	// Split.
	sr := readRows(filepath.Join(rigs, splitFile+".jsonl"))
	ss, sm := record(sim, rt, "sockets", "split"), record(sim, rt, "model", "split")
	var realSplit []string
	for _, r := range sr {
		s := "capacity " + optRate(r.CapacityRPS) + ", " + realRecovery(r)
		realSplit = append(realSplit, s)
	}
	fmt.Printf("| split (30 s of probes): capacity, recovery | %s | %s | %s | |\n\n", strings.Join(realSplit, "; "), splitText(ss), splitText(sm))
}

func holds(rigs, sim, rt string, files []string, seeds []string) {
	bySeed := map[string]rigRow{}
	// Later files first so that the first file (the quiet re-runs) wins.
	for i := len(files) - 1; i >= 0; i-- {
		for _, r := range readRows(filepath.Join(rigs, files[i]+".jsonl")) {
			bySeed[strings.TrimPrefix(r.Run, "hold-s")] = r
		}
	}
	fmt.Println("| Poisson hold 30 rps (hold.yaml), seed | real: time to hang, s | sockets | model | within 1 s | model, the rig's page times (lognormal) | sockets, the rig's page times |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	agreeT, nT := 0, 0
	agreeS, agreeM, n := 0, 0, 0
	for _, seed := range seeds {
		r, ok := bySeed[seed]
		realT := "–"
		var rt0 *float64
		if ok {
			rt0 = r.HangAfterStart
			realT = hangText(r.Verdict, r.HangAfterStart)
		}
		s, m := record(sim, rt, "sockets", "hold-s"+seed), record(sim, rt, "model", "hold-s"+seed)
		mark := ""
		if ok {
			n++
			ms, mm := "✘", "✘"
			if sameHang(rt0, s) {
				agreeS++
				ms = "✔"
			}
			if sameHang(rt0, m) {
				agreeM++
				mm = "✔"
			}
			mark = "sockets " + ms + ", model " + mm
		}
		tm, ts := record(sim, rt, "model", "tail-s"+seed), record(sim, rt, "sockets", "tail-s"+seed)
		if ok && tm != nil {
			nT++
			if sameHang(rt0, tm) {
				agreeT++
			}
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", seed, realT, simHang(s), simHang(m), mark, simHang(tm), simHang(ts))
	}
	if nT > 0 {
		defer fmt.Printf("With the rig's page times (model): %d of %d seeds the same outcome within a second.\n\n", agreeT, nT)
	}
	fmt.Printf("\nSame-seed outcome (no hang, or a hang within a second of the real one): sockets %d of %d seeds, model %d of %d.\n\n", agreeS, n, agreeM, n)
}

func sameHang(real *float64, r *results.Record) bool {
	if r == nil {
		return false
	}
	got := r.Summary.HangAfterStageStartS
	if real == nil || got == nil {
		return real == nil && got == nil
	}
	return math.Abs(*real-*got) <= 1
}

func hangText(verdict string, t *float64) string {
	if t == nil {
		return "no hang (" + verdict + ")"
	}
	return strconv.FormatFloat(*t, 'f', 2, 64)
}

func simHang(r *results.Record) string {
	if r == nil {
		return "not run"
	}
	return hangText(r.Summary.Verdict, r.Summary.HangAfterStageStartS)
}

func readRows(path string) []rigRow {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "calib:", err)
		return nil
	}
	defer f.Close()
	var out []rigRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r rigRow
		if err := json.Unmarshal(sc.Bytes(), &r); err == nil {
			r.file = path
			out = append(out, r)
		}
	}
	return out
}

func readCensus(path string) census {
	f, err := os.Open(path)
	if err != nil {
		return census{}
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		return census{}
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var best census
	for _, r := range rows[1:] {
		n, _ := strconv.Atoi(r[col["close_wait"]])
		if n > best.closeWait {
			best.closeWait = n
			best.port = r[col["port"]]
			best.held, _ = strconv.Atoi(r[col["cw_held_by_app"]])
			best.bkl, _ = strconv.Atoi(r[col["cw_in_backlog"]])
		}
	}
	return best
}

// record reads the one record under sim/RUNTIME/ENGINE/MODE; nil when there is none.
func record(sim, rt, engine, mode string) *results.Record {
	dirs, _ := filepath.Glob(filepath.Join(sim, rt, engine, mode, "*"))
	for _, d := range dirs {
		if r, err := results.Read(d); err == nil {
			return r
		}
	}
	return nil
}

func optRate(p *float64) string {
	if p == nil {
		return "–"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64)
}

func simRate(r *results.Record, f func(results.Summary) *float64) string {
	if r == nil {
		return "not run"
	}
	return optRate(f(r.Summary))
}

func onset(r *results.Record) *float64 {
	if r == nil {
		return nil
	}
	return r.Summary.OnsetRateRPS
}

func cw(r *results.Record) *float64 {
	if r == nil {
		return nil
	}
	v := float64(r.Summary.PeakCloseWait)
	return &v
}

func cwText(r *results.Record) string {
	if r == nil {
		return "not run"
	}
	return fmt.Sprintf("%d (accept queue %d)", r.Summary.PeakCloseWait, r.Summary.PeakAcceptQueue)
}

// within checks a sim figure against the real ones: within frac of the nearest real figure
// (the real spread is the machine's, so any of them is a fair target).
func within(real []float64, sock, model *float64, frac float64) string {
	if len(real) == 0 {
		return "no real figure"
	}
	check := func(name string, v *float64) string {
		if v == nil {
			return name + " –"
		}
		best := math.Inf(1)
		for _, r := range real {
			best = math.Min(best, math.Abs(*v-r)/r)
		}
		mark := "✔"
		if best > frac {
			mark = "✘"
		}
		return fmt.Sprintf("%s %s %.0f %%", name, mark, 100*best)
	}
	return fmt.Sprintf("within %.0f %%: %s, %s", 100*frac, check("sockets", sock), check("model", model))
}

func realRecovery(r rigRow) string {
	if r.Recovered && r.RecoveryS != nil {
		return fmt.Sprintf("answered again %.1f s after the load", *r.RecoveryS)
	}
	return "never answered (own check " + r.OwnAnswered + ")"
}

func recText(r *results.Record) string {
	if r == nil {
		return "not run"
	}
	s := r.Summary
	if s.Recovered && s.RecoveryS != nil {
		return fmt.Sprintf("answered again %.1f s after the load", *s.RecoveryS)
	}
	return fmt.Sprintf("not within %.0f s", s.RecoveryWindowS)
}

// sameRecovery: the same behaviour is recovering within the window or not, and, when all
// recover, within 20 % of the same time.
func sameRecovery(real []rigRow, sock, model *results.Record) string {
	if len(real) == 0 {
		return ""
	}
	want := real[0].Recovered
	check := func(name string, r *results.Record) string {
		if r == nil {
			return name + " –"
		}
		if r.Summary.Recovered != want {
			return name + " ✘"
		}
		if want && real[0].RecoveryS != nil && r.Summary.RecoveryS != nil {
			d := math.Abs(*r.Summary.RecoveryS-*real[0].RecoveryS) / *real[0].RecoveryS
			if d > 0.2 {
				return fmt.Sprintf("%s ✘ (%.0f %% apart)", name, 100*d)
			}
		}
		return name + " ✔"
	}
	return "same: " + check("sockets", sock) + ", " + check("model", model)
}

func events(r rigRow) string {
	var parts []string
	for _, k := range []string{"worker_timeouts", "workers_booted", "nginx_504", "nginx_499", "http_504", "read_timeouts", "pages_started"} {
		if v, ok := r.Events[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %v", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// simEvents are the counts sim's server keeps of what its runtime's timers did: the
// watchdog's kills (gunicorn's WORKER TIMEOUT), the front proxy's 504s and 499s (nginx's).
func simEvents(r *results.Record) string {
	if r == nil {
		return ""
	}
	s := r.Summary
	var parts []string
	if s.WorkerKills > 0 {
		parts = append(parts, fmt.Sprintf("worker kills %d", s.WorkerKills))
	}
	if s.ProxyTimeouts > 0 || s.ProxyClientClosed > 0 {
		parts = append(parts, fmt.Sprintf("504 %d, 499 %d", s.ProxyTimeouts, s.ProxyClientClosed))
	}
	return strings.Join(parts, ", ")
}

func verdict(r *results.Record) string {
	if r == nil {
		return "not run"
	}
	return r.Summary.VerdictLine()
}

func splitText(r *results.Record) string {
	if r == nil {
		return "not run"
	}
	s := r.Summary
	return "capacity " + optRate(s.CapacityRPS) + ", " + recText(r) + " (" + s.VerdictLine() + ")"
}
