package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/runtimes"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/static"
)

// Built-in profiles of the incident preset.
const (
	incidentProfile      = "incident"
	incidentQuickProfile = "incident-quick"
)

type reproduceFlags struct {
	quick   bool
	runtime string
	static  string
	out     string
	json    bool
}

func newReproduceCmd() *cobra.Command {
	var f reproduceFlags
	cmd := &cobra.Command{
		Use:   "reproduce",
		Short: "Reproduce the incident end to end: self hangs, split with nginx does not",
		Long: `Run the incident preset on the self topology, then the same load on split with Debian's
nginx serving the static file, and say line by line how the measurements compare with the
write-up:

  - throughput degrades, then collapses to ~0 (hang onset time and rate)
  - server-side CLOSE_WAIT climbs while ESTABLISHED stays low, until the fd limit stops accept()
    (the CLOSE_WAIT count then, next to the write-up's 4,023)
  - every worker is stuck in the self-call (/stats, and the goroutine dump in the record)
  - no recovery after the load stops
  - split with nginx: no hang, no CLOSE_WAIT pile-up, immediate recovery

The preset: Tomcat 8 NIO defaults (max_threads 200, accept_count 100, max_connections 10000),
HttpClient defaults (2 per route, 20 in all, no timeouts), nofile 4096, 1 s of work per page,
a ramp 20->220 rps over 40 s then 180 rps for 30 s (about 3 minutes in all). --quick scales it
down (16 workers x 200 ms, nofile 256; under a minute). The records, signature.json and the
HTML/Markdown reports go to runs/YYYYMMDD-HHMMSS-reproduce/.

nginx is Debian's (on PATH or /usr/sbin/nginx; apt-get install nginx). Without it the command
stops before running anything, unless --static embedded is given.`,
		Example: `  sim reproduce --quick
  sim reproduce
  sim reproduce --static embedded`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReproduce(cmd, f) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.quick, "quick", false, "the scaled-down preset (under a minute)")
	fl.StringVar(&f.runtime, "runtime", runtimes.Tomcat, "the runtime to reproduce it on: one of "+runtimeNames()+"; other than tomcat, the preset's load and pool on that runtime's defaults, compared with what the real runtime did on its rig")
	fl.StringVar(&f.static, "static", static.Nginx, "static server of the split run: nginx or embedded")
	fl.StringVar(&f.out, "out", defaultRunsDir, "folder under which the reproduce folder is created")
	fl.BoolVar(&f.json, "json", false, "print the signature as JSON instead of the table")
	return cmd
}

func runReproduce(cmd *cobra.Command, f reproduceFlags) error {
	if err := checkOut("--out", f.out); err != nil {
		return err
	}
	if f.static != static.Nginx && f.static != static.Embedded {
		return &invalid.Error{Field: "--static", Value: f.static, Allowed: "nginx or embedded"}
	}
	if f.static == static.Nginx {
		if _, err := static.FindNginx(); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("%w (or run with --static embedded)", err)}
		}
	}
	name := incidentProfile
	if f.quick {
		name = incidentQuickProfile
	}
	if err := checkRuntime("--runtime", f.runtime); err != nil {
		return err
	}
	rt, _ := runtimes.Lookup(f.runtime)
	prof, err := loadprofiles.Load(name)
	if err != nil {
		return err
	}
	if rt.Name != runtimes.Tomcat {
		prof = onRuntime(prof, rt.Name)
	}
	start := time.Now()
	dir := results.NewRunDir(f.out, "reproduce", start)
	sess, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer sess.close()
	staticFor := func(topology string) func(*app.Config) {
		return func(c *app.Config) { c.Static.Server = f.static }
	}
	recs, runErr := runAll(cmd, sess, dir, []string{app.Self, app.Split}, prof, name, staticFor)
	var lines []results.SignatureLine
	var notes []string
	if len(recs) == 2 {
		lines = results.Signature(recs[0], recs[1])
		if rt.Name != runtimes.Tomcat {
			lines = runtimeSignature(lines, recs[0], rt)
		}
		for _, l := range lines {
			notes = append(notes, fmt.Sprintf("%s %s — incident: %s; measured: %s", mark(l.Shown), l.Symptom, l.Incident, l.Measured))
		}
		data, _ := json.MarshalIndent(lines, "", "  ")
		if werr := results.WriteFileAtomic(dir, "signature.json", append(data, '\n')); werr != nil && runErr == nil {
			runErr = werr
		}
	}
	title := "sim reproduce: the self-call deadlock incident"
	if rt.Name != runtimes.Tomcat {
		title += " on " + rt.Label
	}
	files, repErr := writeReports(dir, recs, title+map[bool]string{true: " (quick)", false: ""}[f.quick], notes)
	wall := time.Since(start).Round(time.Second)
	if f.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"signature": lines, "dir": dir, "wall_s": wall.Seconds()}); err != nil {
			return err
		}
	} else if len(lines) > 0 {
		printSignature(cmd.OutOrStdout(), lines)
		fmt.Fprintf(cmd.OutOrStdout(), "\nwall time %s\n", wall)
		printFiles(cmd, dir, files)
	}
	if runErr != nil {
		return runErr
	}
	if repErr != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("write reports: %w", repErr)}
	}
	return nil
}

func mark(shown bool) string {
	if shown {
		return "✔"
	}
	return "✘"
}

func printSignature(w io.Writer, lines []results.SignatureLine) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tsymptom\tincident\tmeasured")
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", mark(l.Shown), l.Symptom, l.Incident, l.Measured)
	}
	tw.Flush()
	shown := 0
	for _, l := range lines {
		if l.Shown {
			shown++
		}
	}
	fmt.Fprintf(w, "\n%d of %d symptoms of the incident reproduced\n", shown, len(lines))
}

// onRuntime returns the incident preset p on runtime rt: the preset's scale (pool size, work
// time, fd limit, the split run's static server) with the runtime's own defaults for the rest
// (its connector, backlog, keep-alive, self-call client), as a team would deploy that runtime.
// The preset's Tomcat and HttpClient settings (accept_count, max_connections, the pool's
// leases) are dropped: they are Tomcat's, not the runtime's.
func onRuntime(p *loadprofiles.Profile, rt string) *loadprofiles.Profile {
	q := *p
	q.Server = loadprofiles.Server{}
	for _, k := range []string{"max_threads", "work_time", "nofile", "static.server"} {
		if v, ok := p.Server.Get(k); ok {
			if err := q.Server.Set(k, v); err != nil {
				panic(err) // the preset's own keys, of their own types
			}
		}
	}
	return withRuntime(&q, rt)
}

// runtimeSignature adapts the incident's signature to runtime rt: the write-up's Tomcat
// reached the fd limit with every CLOSE_WAIT socket held by the app; on a runtime that accepts
// only with a free worker (bio, reactor) the pile sits in the listen backlog instead, so that line compares
// with the real runtime's rig, as does the recovery line.
func runtimeSignature(lines []results.SignatureLine, self *results.Record, rt runtimes.Runtime) []results.SignatureLine {
	set, _ := results.ReadServerSettings(self.Dir)
	out := slices.Clone(lines)
	for i := range out {
		switch {
		case strings.HasPrefix(out[i].Symptom, "CLOSE_WAIT climbs"):
			out[i] = results.PileLine(self, set.Connector != "" && set.Connector != "nio", "on the real "+rt.Label+": "+rt.Observed.Pile)
		case strings.HasPrefix(out[i].Symptom, "no recovery"):
			out[i].Incident = "on the real " + rt.Label + ": " + rt.Observed.After
		}
	}
	return out
}
