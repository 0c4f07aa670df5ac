package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/runner"
)

// defaultRunsDir is where run records go unless --out says otherwise; git-ignored.
const defaultRunsDir = "runs"

type runFlags struct {
	topology string
	profile  string
	out      string
	json     bool
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Ramp load on one topology and record hang onset, CLOSE_WAIT and recovery",
		Long: `Start a topology as child processes (sim serve on fresh loopback ports), ramp load on its
/page with vegeta following a load profile, observe it every sample_interval (client results,
the app port's sockets by state from the kernel, the app's /stats), probe for recovery after
the load stops, and write a run record:

  runs/YYYYMMDD-HHMMSS-TOPOLOGY/
    summary.json   verdict, hang onset, peak CLOSE_WAIT, recovery, latency (schema_version 1)
    timeline.csv   one row per observation window
    probes.csv     the recovery probes
    results.bin    every request, readable by 'vegeta report' and 'vegeta plot'
    config.json    the effective config; serve.log, goroutines.txt (the app's thread dump)

Verdicts: collapse = good throughput below hang_fraction of the offered rate for at least
hang_hold until the load ends; hang = collapse and no good probe during recovery; saturated =
collapse but recovered; ok = no collapse.

Built-in profiles:
` + profileList() + `
Exit codes: 0 run completed (whatever the verdict), 2 bad input, 3 the run failed or was
interrupted (the record is kept, marked incomplete).`,
		Example: `  sim run --topology self --profile quick
  sim run --topology split --profile ramp --out /tmp/runs --json
  sim run --topology self --profile ./my-profile.yaml`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRun(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.topology, "topology", app.Self, "self or split")
	fl.StringVar(&f.profile, "profile", "quick", "built-in profile name or path to a YAML profile")
	fl.StringVar(&f.out, "out", defaultRunsDir, "folder under which the run record is created")
	fl.BoolVar(&f.json, "json", false, "print the summary as JSON instead of text")
	return cmd
}

func profileList() string {
	var b strings.Builder
	for _, name := range loadprofiles.Builtin() {
		d, _ := loadprofiles.BuiltinDescription(name)
		fmt.Fprintf(&b, "  %-7s %s\n", name, d)
	}
	return b.String()
}

func runRun(cmd *cobra.Command, f runFlags) error {
	if f.topology != app.Self && f.topology != app.Split {
		return &invalid.Error{Field: "--topology", Value: f.topology, Allowed: "one of self, split"}
	}
	prof, err := loadprofiles.Load(f.profile)
	if err != nil {
		return err
	}
	if _, err := runner.ServerConfig(f.topology, prof); err != nil {
		return fmt.Errorf("profile %s: server: %w", f.profile, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	ctx := cmd.Context()
	force := forceOnSecondSignal()
	defer force.stop()

	dir := results.NewRunDir(f.out, f.topology, time.Now())
	progress := newProgressPrinter(cmd.ErrOrStderr())
	out, err := runner.Run(ctx, runner.Options{
		Topology:    f.topology,
		Profile:     prof,
		ProfileName: f.profile,
		Exe:         exe,
		RecordDir:   dir,
		Progress:    progress.update,
		Force:       force.ch,
	})
	progress.done()
	if out == nil {
		if invalid.Is(err) {
			return err
		}
		return &exitError{code: exitFailed, err: err}
	}
	if f.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(out.Summary); jerr != nil {
			return jerr
		}
	} else {
		printSummary(cmd.OutOrStdout(), out.Dir, out.Summary)
	}
	if err != nil {
		if errors.Is(err, runner.ErrInterrupted) {
			return &exitError{code: exitFailed, err: fmt.Errorf("%v; record kept, marked incomplete: %s", err, out.Dir)}
		}
		return &exitError{code: exitFailed, err: fmt.Errorf("run failed: %v; record kept, marked incomplete: %s", err, out.Dir)}
	}
	return nil
}

// forcer closes ch on the second SIGINT/SIGTERM: the first asks for a clean stop (the command's
// context), the second for an immediate one.
type forcer struct {
	ch   chan struct{}
	sigs chan os.Signal
	quit chan struct{}
}

func forceOnSecondSignal() *forcer {
	f := &forcer{ch: make(chan struct{}), sigs: make(chan os.Signal, 2), quit: make(chan struct{})}
	signal.Notify(f.sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for {
			select {
			case <-f.sigs:
				n++
				if n == 2 {
					close(f.ch)
					return
				}
			case <-f.quit:
				return
			}
		}
	}()
	return f
}

func (f *forcer) stop() {
	signal.Stop(f.sigs)
	close(f.quit)
}

func printSummary(w io.Writer, dir string, s results.Summary) {
	fmt.Fprintf(w, "sim run: topology %s, profile %s: %s\n", s.Topology, s.Profile, strings.ToUpper(s.Verdict))
	switch {
	case s.Collapse && s.CollapseOnsetS != nil:
		label := "hang onset"
		if !s.Hang {
			label = "collapse"
		}
		fmt.Fprintf(w, "  %-15s %.1f s at %.0f rps offered (in flight %d, workers busy %d, CLOSE_WAIT %d)\n",
			label, *s.CollapseOnsetS, deref(s.OnsetRateRPS), s.OnsetInFlight, s.OnsetWorkersBusy, s.OnsetCloseWait)
	default:
		fmt.Fprintf(w, "  %-15s none\n", "hang onset")
	}
	fmt.Fprintf(w, "  %-15s %d (at %.1f s); accept errors %d\n", "peak CLOSE_WAIT", s.PeakCloseWait, s.PeakCloseWaitTS, s.AcceptErrors)
	if s.Recovered && s.RecoveryS != nil {
		fmt.Fprintf(w, "  %-15s recovered %.1f s after the load stopped\n", "recovery", *s.RecoveryS)
	} else {
		fmt.Fprintf(w, "  %-15s not recovered within %.0f s\n", "recovery", s.RecoveryWindowS)
	}
	fmt.Fprintf(w, "  %-15s %d sent, %d OK; p50 %.0f ms, p99 %.0f ms\n", "requests", s.Requests, s.OK, s.P50MS, s.P99MS)
	if len(s.Errors) > 0 {
		var parts []string
		for _, k := range []string{"timeout", "refused", "reset", "http", "other"} {
			if n := s.Errors[k]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, n))
			}
		}
		fmt.Fprintf(w, "  %-15s %s\n", "errors", strings.Join(parts, ", "))
	}
	if !s.Complete {
		fmt.Fprintf(w, "  %-15s INCOMPLETE: %s\n", "status", s.InterruptedReason)
	}
	fmt.Fprintf(w, "  %-15s %s\n", "record", filepath.Clean(dir))
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// progressPrinter shows a live line on a terminal and a plain line every few seconds elsewhere.
type progressPrinter struct {
	w        io.Writer
	tty      bool
	lastLine time.Time
	printed  bool
}

// plainEvery is how often a non-terminal gets a progress line.
const plainEvery = 5 * time.Second

func newProgressPrinter(w io.Writer) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressPrinter{w: w, tty: tty}
}

func (p *progressPrinter) update(pr runner.Progress) {
	s := pr.Sample
	line := fmt.Sprintf("%5.1f/%.0fs %-8s offered %5.0f rps  ok %5.0f rps  p99 %6.0f ms  CLOSE_WAIT %5d  busy %4d  queued %5d",
		pr.Elapsed.Seconds(), pr.Total.Seconds(), pr.Phase, s.OfferedRPS, s.OKRPS, s.P99, s.CloseWait, s.WorkersBusy, s.Queued)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.printed = true
		return
	}
	if time.Since(p.lastLine) >= plainEvery {
		fmt.Fprintln(p.w, line)
		p.lastLine = time.Now()
	}
}

func (p *progressPrinter) done() {
	if p.tty && p.printed {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
