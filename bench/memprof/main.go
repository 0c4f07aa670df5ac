// Command memprof runs what `sim run` runs (runner.Run, in this process) and profiles its memory:
// every -every it prints the Go heap, stack and goroutine figures beside VmRSS, and at each time
// in -heap-at it writes a heap profile for `go tool pprof`. sim itself serves no pprof for the
// runner, so bench/run.sh's memory section, when it sees RSS grow, is followed up with this:
//
//	go build -o /tmp/sim ./cmd/sim
//	go run ./bench/memprof -sim /tmp/sim -profile steady.yaml -out /tmp/memprof
//	go tool pprof -sample_index=inuse_space -top -base /tmp/memprof/heap-30s.pb.gz /tmp/memprof/heap-300s.pb.gz
//
// The children (`sim serve`) are started and stopped by runner.Run as in `sim run`.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/runner"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	sim, profile, topology, out string
	every                       time.Duration
	heapAt                      []time.Duration
	profileRate                 int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("memprof", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var heapAt string
	fs.StringVar(&o.sim, "sim", "", "the sim binary runner.Run starts as `sim serve` (required)")
	fs.StringVar(&o.profile, "profile", "", "load profile: a built-in name or a YAML file (required)")
	fs.StringVar(&o.topology, "topology", "split", "self or split")
	fs.StringVar(&o.out, "out", "", "folder for the heap profiles and the run record (required; created)")
	fs.DurationVar(&o.every, "every", 5*time.Second, "how often to print memory figures")
	fs.StringVar(&heapAt, "heap-at", "30s,150s,300s", "comma-separated times since the start at which to write heap-<t>.pb.gz")
	// Go samples one allocation per 512 kB by default, too coarse to see a growth of a few
	// hundred kB over minutes; every 4 kB costs little at a few hundred requests a second.
	fs.IntVar(&o.profileRate, "memprofilerate", 4096, "runtime.MemProfileRate: bytes between sampled allocations")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, f := range strings.Split(heapAt, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			fmt.Fprintf(stderr, "memprof: -heap-at %q: want durations > 0 such as 30s,150s\n", f)
			return 2
		}
		o.heapAt = append(o.heapAt, d)
	}
	if o.sim == "" || o.profile == "" || o.out == "" || o.every <= 0 || o.profileRate <= 0 {
		fmt.Fprintln(stderr, "memprof: -sim, -profile and -out are required, -every and -memprofilerate > 0")
		return 2
	}
	runtime.MemProfileRate = o.profileRate
	if err := profileRun(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "memprof: %v\n", err)
		return 3
	}
	return 0
}

func profileRun(ctx context.Context, o options, stdout io.Writer) error {
	prof, err := loadprofiles.LoadWithLimits(o.profile, loadprofiles.Limits{MaxRate: loadprofiles.MaxTarget, MaxDuration: loadprofiles.MaxDuration})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.out, err)
	}
	exe, err := filepath.Abs(o.sim)
	if err != nil {
		return fmt.Errorf("sim binary %q: %w", o.sim, err)
	}
	began := time.Now()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() { watched <- watch(watchCtx, o, began, stdout) }()
	out, runErr := runner.Run(ctx, runner.Options{
		Topology:    o.topology,
		Profile:     prof,
		ProfileName: o.profile,
		Exe:         exe,
		RecordDir:   results.NewRunDir(filepath.Join(o.out, "runs"), o.topology, time.Now()),
	})
	stopWatch()
	werr := <-watched
	if out != nil {
		s := out.Summary
		fmt.Fprintf(stdout, "# run: %s, %d requests, %d OK, p99 %.1f ms, record %s\n", s.Verdict, s.Requests, s.OK, s.P99MS, out.Dir)
	}
	return errors.Join(runErr, werr)
}

// watch prints a line of memory figures every o.every and writes the heap profiles on time.
func watch(ctx context.Context, o options, began time.Time, w io.Writer) error {
	fmt.Fprintln(w, "t_s\trss_mb\theap_inuse_mb\theap_objects\tstack_inuse_mb\tgoroutines\tnum_gc")
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			t := now.Sub(began)
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintf(w, "%.0f\t%.1f\t%.1f\t%d\t%.1f\t%d\t%d\n", t.Seconds(), float64(rssKB())/1024,
				float64(m.HeapInuse)/(1<<20), m.HeapObjects, float64(m.StackInuse)/(1<<20), runtime.NumGoroutine(), m.NumGC)
			for next < len(o.heapAt) && t >= o.heapAt[next] {
				if err := writeHeap(filepath.Join(o.out, "heap-"+o.heapAt[next].String()+".pb.gz")); err != nil {
					return err
				}
				next++
			}
		}
	}
}

func writeHeap(path string) error {
	runtime.GC() // the profile shows live objects as of the last GC
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// rssKB is this process's VmRSS, in kB; 0 if unknown.
func rssKB() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}
