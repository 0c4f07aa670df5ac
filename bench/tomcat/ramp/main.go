// Command ramp drives a sim load profile against any HTTP URL — here a real Tomcat — and
// measures it the way `sim run` measures its own app, so that the two can be compared number
// for number:
//
//   - the load, the windows and the probes: sim's observer (simulator/observe), the loop that
//     `sim run` uses, with the profile's stage pacer and client settings;
//   - every sample_interval: a results.Window of the client results, and the server-side sockets
//     of the URL's port by state (simulator/sockets: netlink inet_diag, /proc fallback), plus,
//     with -pid, the server process's open file descriptors;
//   - the verdicts: simulator/detect on that timeline (collapse onset, peak CLOSE_WAIT) and on
//     the recovery probes sent after the load;
//   - with -out, a run record in sim's format (summary.json, timeline.csv, probes.csv,
//     results.bin) that sim's tooling and `vegeta report` can read, plus cpu.csv: the cores used
//     in each window by the whole machine, the server (-pid), this driver, and everything else.
//
// It only ever targets loopback: a URL whose host is not a loopback address is refused. Every
// phase is bounded in time: the load by the profile, the probes by their count, interval and
// timeout, and the whole run by a hard deadline.
//
// With -analyze it attacks nothing and reads records instead (its own or `sim run`'s): the
// offered rate at which the first request that failed was sent. On a ramp that is the rate the
// server could not take, independent of the detector's windows.
//
// Usage (from the repository root):
//
//	go run ./bench/tomcat/ramp -url http://127.0.0.1:18080/app/page.jsp -pid $JAVA_PID -out /tmp/rec
//	go run ./bench/tomcat/ramp -analyze /tmp/rec runs/20261125-131239-self
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/detect"
	"github.com/simdev/sim/simulator/observe"
)

type options struct {
	profile       string
	url           string
	pid           int
	out           string
	probes        int
	probeInterval time.Duration
	probeTimeout  time.Duration
	jsonOut       bool
	quiet         bool
}

func main() {
	var o options
	flag.StringVar(&o.profile, "profile", "bench/tomcat/profile.yaml", "sim load profile (stages, client, detect, recovery.timeout)")
	flag.StringVar(&o.url, "url", "http://127.0.0.1:18080/app/page.jsp", "URL to attack and probe (loopback only)")
	flag.IntVar(&o.pid, "pid", 0, "server process id: sample its open fds from /proc/PID/fd (0 = don't)")
	flag.StringVar(&o.out, "out", "", "write a sim-format run record to this folder (must not exist)")
	flag.IntVar(&o.probes, "probes", 20, "recovery probes after the load (1..1000)")
	flag.DurationVar(&o.probeInterval, "probe-interval", 500*time.Millisecond, "pause between probe starts")
	flag.DurationVar(&o.probeTimeout, "probe-timeout", 0, "per-probe timeout (0 = the profile's recovery.timeout)")
	flag.BoolVar(&o.jsonOut, "json", false, "print the summary as JSON")
	flag.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	analyzeOnly := flag.Bool("analyze", false, "attack nothing: for each record folder given as an argument (this tool's or sim run's),\nprint the offered rate at which the first failed request was sent (the profile must be the record's)")
	flag.Parse()
	if *analyzeOnly {
		if err := analyzeRecords(o.profile, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "ramp:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "ramp:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	p, err := loadprofiles.Load(o.profile)
	if err != nil {
		return err
	}
	u, err := url.Parse(o.url)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if !isLoopback(u.Hostname()) {
		return fmt.Errorf("-url %s: only loopback hosts may be attacked", o.url)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("-url %s: needs an explicit port", o.url)
	}
	if o.probes < 1 || o.probes > 1000 {
		return fmt.Errorf("-probes %d: want 1..1000", o.probes)
	}
	if o.probeInterval <= 0 || o.probeInterval > time.Minute {
		return fmt.Errorf("-probe-interval %s: want (0, 1m]", o.probeInterval)
	}
	if o.probeTimeout <= 0 {
		o.probeTimeout = p.Recovery.Timeout
	}

	loadDur := p.Duration()
	probeSpan := time.Duration(o.probes-1)*o.probeInterval + o.probeTimeout
	// Hard deadline: load, probes, vegeta's drain, and slack. Nothing outlives it.
	deadline := loadDur + probeSpan + p.Client.Timeout + 30*time.Second
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	var rec *results.Writer
	if o.out != "" {
		if rec, err = results.Create(o.out); err != nil {
			return err
		}
		defer rec.Close()
	}

	census := observe.NewLocal(uint16(port))
	defer census.Close()
	th := detect.Thresholds{HangFraction: p.Detect.HangFraction, HangHold: p.Detect.HangHold}
	sum := results.Summary{Topology: "tomcat", Profile: p.Name, AppURL: o.url, ServePID: o.pid, StartedAt: time.Now().UTC()}
	if rec != nil {
		_ = rec.WriteSummary(sum)
		_ = rec.WriteConfig(map[string]any{"profile": p, "url": o.url, "pid": o.pid,
			"probes": o.probes, "probe_interval": o.probeInterval.String(), "probe_timeout": o.probeTimeout.String(),
			"socket_method": census.Describe().Method})
	}

	// sim's observer (simulator/observe), with this tool's probe schedule: o.probes probes
	// o.probeInterval apart from the end of the load, each bounded by o.probeTimeout.
	lp := *p
	lp.Recovery = loadprofiles.Recovery{Duration: time.Duration(o.probes-1) * o.probeInterval, Interval: o.probeInterval, Timeout: o.probeTimeout}
	var cpuRows []string // cpu.csv: who used the machine's cores in each window
	cpu := newCPUMeter(o.pid)
	nextPrint := 5 * time.Second
	opts := observe.Options{
		URL: o.url, Name: "ramp-tomcat", Profile: &lp, Census: census, Thresholds: th,
		// Called after every window, on the observer's sampling goroutine.
		Progress: func(pr observe.Progress) {
			s := pr.Sample
			machine, server, self := cpu.sample()
			cpuRows = append(cpuRows, fmt.Sprintf("%.3f,%s,%.2f,%.2f,%.2f,%.2f\n",
				s.T, s.Phase, machine, server, self, max(0, machine-server-self)))
			if !o.quiet && pr.Elapsed >= nextPrint {
				nextPrint += 5 * time.Second
				fmt.Fprintf(os.Stderr, "%5.1fs %-8s offered %5.0f rps  ok %5.0f rps  p99 %6.0f ms  in flight %5d  CLOSE_WAIT %5d  ESTAB %5d  fds %5d\n",
					s.T, s.Phase, s.OfferedRPS, s.OKRPS, s.P99, s.InFlight, s.CloseWait, s.Established, s.FDsOpen)
			}
		},
	}
	if rec != nil {
		opts.Record = rec
	}
	if o.pid > 0 {
		opts.Stats = procFDs(o.pid)
	}
	obs, runErr := observe.Run(ctx, opts)

	obs.Summarize(&sum, th, &lp)
	sum.RecoveryWindowS = probeSpan.Seconds()
	sum.FinishedAt = time.Now().UTC()
	sum.Complete = runErr == nil
	if !sum.Complete {
		sum.Verdict = results.VerdictIncomplete
		sum.InterruptedReason = runErr.Error()
	}
	if rec != nil {
		if err := rec.WriteSummary(sum); err != nil {
			return err
		}
		csv := "t_s,phase,machine_cores,server_cores,driver_cores,other_cores\n"
		for _, r := range cpuRows {
			csv += r
		}
		if err := rec.WriteFile("cpu.csv", []byte(csv)); err != nil {
			return err
		}
		sum.RecordDir = rec.Dir()
	}
	sentProbes := obs.Probes

	okProbes := 0
	for _, pr := range sentProbes {
		if pr.OK {
			okProbes++
		}
	}
	if o.jsonOut {
		out := struct {
			results.Summary
			ProbesOK    int `json:"probes_ok"`
			ProbesTotal int `json:"probes_total"`
		}{sum, okProbes, len(sentProbes)}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printText(os.Stdout, &sum, okProbes, len(sentProbes))
	}
	if runErr != nil {
		return runErr
	}
	return nil
}

func printText(w io.Writer, s *results.Summary, okProbes, nProbes int) {
	fmt.Fprintf(w, "verdict          %s\n", s.Verdict)
	if s.OnsetRateRPS != nil {
		fmt.Fprintf(w, "collapse onset   %.2f s at %.1f rps offered (in flight %d, CLOSE_WAIT %d)\n",
			*s.CollapseOnsetS, *s.OnsetRateRPS, s.OnsetInFlight, s.OnsetCloseWait)
	} else {
		fmt.Fprintf(w, "collapse onset   none\n")
	}
	fmt.Fprintf(w, "peak CLOSE_WAIT  %d (at %.1f s); peak fds %d\n", s.PeakCloseWait, s.PeakCloseWaitTS, s.PeakFDs)
	fmt.Fprintf(w, "probes OK        %d/%d\n", okProbes, nProbes)
	fmt.Fprintf(w, "requests         %d sent, %d OK; p50 %.0f ms, p99 %.0f ms; errors %v\n", s.Requests, s.OK, s.P50MS, s.P99MS, s.Errors)
	if s.RecordDir != "" {
		fmt.Fprintf(w, "record           %s\n", s.RecordDir)
	}
}

// cpuMeter measures, per window, the cores busy on the whole machine (/proc/stat), in the
// server process (-pid) and in this driver (vegeta and the samplers): what is left is other
// processes — on a shared 2-core machine, someone else's load.
type cpuMeter struct {
	pid                     int
	at                      time.Time
	machine, server, driver float64 // cumulative CPU seconds at the last sample
}

func newCPUMeter(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, at: time.Now()}
	m.machine, _ = machineCPU()
	m.server, _ = procCPU(pid)
	m.driver, _ = procCPU(os.Getpid())
	return m
}

// sample returns the cores each used since the last call (0 where unreadable).
func (m *cpuMeter) sample() (machine, server, driver float64) {
	now := time.Now()
	dt := now.Sub(m.at).Seconds()
	m.at = now
	rate := func(last *float64, v float64, err error) float64 {
		if err != nil || dt <= 0 {
			return 0
		}
		d := (v - *last) / dt
		*last = v
		return d
	}
	v, err := machineCPU()
	machine = rate(&m.machine, v, err)
	if m.pid > 0 {
		v, err = procCPU(m.pid)
		server = rate(&m.server, v, err)
	}
	v, err = procCPU(os.Getpid())
	driver = rate(&m.driver, v, err)
	return machine, server, driver
}

// clockTick is USER_HZ, the unit of /proc's CPU times: 100 on every Linux that Go supports.
const clockTick = 100.0

// machineCPU returns the busy CPU seconds of all cores since boot (all but idle and iowait).
func machineCPU() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: unexpected first line")
	}
	var busy float64
	for i, x := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest times are already counted in user
			break
		}
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, err
		}
		busy += v
	}
	return busy / clockTick, nil
}

// procCPU returns the user+system CPU seconds of a process (all its threads).
func procCPU(pid int) (float64, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: fields count from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("/proc/PID/stat: no command")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("/proc/PID/stat: short")
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (u + s) / clockTick, nil
}

// procFDs is the server's open fds (/proc/PID/fd) as the observer's app columns: FDsOpen,
// and AppUp while it can be read.
type procFDs int

// Stats counts the process's open fds.
func (p procFDs) Stats(context.Context, time.Duration) (app.Stats, error) {
	n, err := countFDs(int(p))
	return app.Stats{FDsOpen: n}, err
}

func countFDs(pid int) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return len(names), err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// firstFailure is what -analyze reports of one record.
type firstFailure struct {
	Dir string `json:"dir"`
	// FailedT and FailedRPS: when (seconds since the attack started) the first request that did
	// not get a 2xx was sent, and the offered rate then; -1 and 0 when every request succeeded.
	FailedT   float64 `json:"first_failed_t_s"`
	FailedRPS float64 `json:"first_failed_rps"`
	// LastOKT and LastOKRPS: the same for the last request that did get a 2xx.
	LastOKT   float64 `json:"last_ok_t_s"`
	LastOKRPS float64 `json:"last_ok_rps"`
	// OnsetRPS is the detector's onset rate from the record's summary (0 without a collapse).
	OnsetRPS float64 `json:"onset_rate_rps"`
}

// analyze reads the results of the record in dir. The attack's start is placed from its first
// result: the pacer says when hit 0 is due, so t0 = first send - that wait.
func analyze(p *loadprofiles.Profile, dir string) (firstFailure, error) {
	f := firstFailure{Dir: dir, FailedT: -1, LastOKT: -1}
	rec, err := results.Read(dir)
	if err != nil {
		return f, err
	}
	if rec.Summary.OnsetRateRPS != nil {
		f.OnsetRPS = *rec.Summary.OnsetRateRPS
	}
	var first, failed, lastOK time.Time
	err = results.ReadResults(dir, func(r *vegeta.Result) error {
		ts := r.Timestamp
		if first.IsZero() || ts.Before(first) {
			first = ts
		}
		if r.Code >= 200 && r.Code < 300 {
			if ts.After(lastOK) {
				lastOK = ts
			}
		} else if failed.IsZero() || ts.Before(failed) {
			failed = ts
		}
		return nil
	})
	if err != nil {
		return f, err
	}
	if first.IsZero() {
		return f, fmt.Errorf("%s: no results", dir)
	}
	wait0, _ := p.Pacer().Pace(0, 0)
	t0 := first.Add(-wait0)
	if !failed.IsZero() {
		f.FailedT = failed.Sub(t0).Seconds()
		f.FailedRPS = p.RateAt(failed.Sub(t0))
	}
	if !lastOK.IsZero() {
		f.LastOKT = lastOK.Sub(t0).Seconds()
		f.LastOKRPS = p.RateAt(lastOK.Sub(t0))
	}
	return f, nil
}

func analyzeRecords(profile string, dirs []string) error {
	if len(dirs) == 0 {
		return errors.New("-analyze: name at least one record folder")
	}
	p, err := loadprofiles.Load(profile)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	for _, d := range dirs {
		f, err := analyze(p, d)
		if err != nil {
			return err
		}
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}
