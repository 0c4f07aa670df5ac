// Package tomcat_test holds the issue-5 fidelity check of sim against real Tomcat 10.1.
//
// TestProfileMatchesIssue5 (fast, always run) pins profile.yaml to the settings of the Tomcat
// run the requirement quotes. TestSimCollapsesLikeTomcat runs `sim run --topology self` with
// that profile (about 90 s) and holds its collapse onset to Tomcat's 197 rps +-10 %, with no
// recovery; it runs only when SIM_BENCH_TOMCAT is set, since it takes the machine's two cores
// for a minute and a half:
//
//	SIM_BENCH_TOMCAT=1 go test -run TestSimCollapsesLikeTomcat -v -timeout 10m ./bench/tomcat/
package tomcat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

const (
	// tomcatOnsetRPS is where real Tomcat 10.1 collapsed under this profile (issue 5).
	tomcatOnsetRPS = 197.0
	// tolerance is the issue's +-10 %.
	tolerance = 0.10
)

func TestProfileMatchesIssue5(t *testing.T) {
	p, err := loadprofiles.Load("profile.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Stages) != 1 {
		t.Fatalf("stages = %d, want one ramp", len(p.Stages))
	}
	s := p.Stages[0]
	if s.Mode != loadprofiles.ModeRamp || s.From == nil || *s.From != 5 || s.Target != 300 || s.Duration != 40*time.Second {
		t.Errorf("stage = %+v (from %v), want a ramp from 5 to 300 rps over 40s", s, s.From)
	}
	if p.Client.Timeout != 2*time.Second {
		t.Errorf("client.timeout = %s, want 2s (vegeta -timeout 2s)", p.Client.Timeout)
	}
	if p.Client.MaxWorkers != 0 || !p.Client.Keepalive {
		t.Errorf("client = %+v, want vegeta's defaults (unbounded workers, keep-alive)", p.Client)
	}
	if p.Recovery.Timeout != 2*time.Second {
		t.Errorf("recovery.timeout = %s, want 2s", p.Recovery.Timeout)
	}
	// The runner sends a probe every interval from the end of the load: duration/interval + 1.
	if n := int(p.Recovery.Duration/p.Recovery.Interval) + 1; n != 20 || p.Recovery.Interval != 500*time.Millisecond {
		t.Errorf("recovery %s every %s = %d probes, want 20 probes 500ms apart", p.Recovery.Duration, p.Recovery.Interval, n)
	}
	if p.Arrivals != loadprofiles.ArrivalsUniform && p.Arrivals != "" {
		t.Errorf("arrivals = %s, want uniform (vegeta's linear pacer)", p.Arrivals)
	}
	if p.Detect.HangFraction != 0.1 || p.Detect.HangHold != 3*time.Second {
		t.Errorf("detect = %+v, want 10 %% for 3s", p.Detect)
	}
	sv := p.Server
	for k, want := range map[string]any{
		"max_threads":     200,
		"accept_count":    100,
		"max_connections": 8192,
		// HttpURLConnection does not bound concurrent connections: every worker holds its own.
		"max_per_route":      200,
		"max_total":          200,
		"connector":          "nio",
		"work_time":          time.Second,
		"honor_client_close": false, // Tomcat
		"tcp_keepalive":      false, // Tomcat's socket.soKeepAlive unset
	} {
		if got, ok := sv.Get(k); !ok || got != want {
			t.Errorf("server.%s = %v (set %v), want %v", k, got, ok, want)
		}
	}
	for _, k := range []string{"connection_request_timeout", "connect_timeout", "socket_timeout"} {
		if d, ok := sv.Duration(k); ok && d != 0 {
			t.Errorf("server.%s = %s, want none (HttpURLConnection without timeouts)", k, d)
		}
	}
	if n, ok := sv.Int("nofile"); !ok || n < 4096 {
		t.Errorf("server.nofile = %v (set %v), want the Tomcat JVM's limit (20000 here)", n, ok)
	}
}

func TestSimCollapsesLikeTomcat(t *testing.T) {
	if os.Getenv("SIM_BENCH_TOMCAT") == "" {
		t.Skip("set SIM_BENCH_TOMCAT=1 to run sim against the Tomcat reference (about 90 s)")
	}
	testtier.Long(t) // a real Tomcat and a ramp
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	exe := filepath.Join(tmp, "sim")
	build := exec.CommandContext(ctx, "go", "build", "-o", exe, "./cmd/sim")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sim: %v\n%s", err, out)
	}
	profile, err := filepath.Abs("profile.yaml")
	if err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(tmp, "runs")
	cmd := exec.CommandContext(ctx, exe, "run", "--topology", "self", "--profile", profile, "--out", outDir, "--json")
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sim run: %v\n%s", err, stderr.Bytes())
	}
	var sum results.Summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout.Bytes())
	}
	dirs, _ := filepath.Glob(filepath.Join(outDir, "*"))
	if len(dirs) != 1 {
		t.Fatalf("records in %s: %v, want one", outDir, dirs)
	}
	rec, err := results.Read(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, p := range rec.Probes {
		if p.OK {
			ok++
		}
	}
	if sum.OnsetRateRPS == nil {
		t.Fatalf("no collapse (verdict %s); Tomcat collapsed at %.0f rps", sum.Verdict, tomcatOnsetRPS)
	}
	onset := *sum.OnsetRateRPS
	t.Logf("sim: onset %.1f rps at %.2f s (Tomcat %.0f rps, ratio %.3f), peak CLOSE_WAIT %d, probes OK %d/%d, verdict %s",
		onset, *sum.CollapseOnsetS, tomcatOnsetRPS, onset/tomcatOnsetRPS, sum.PeakCloseWait, ok, len(rec.Probes), sum.Verdict)
	if r := onset / tomcatOnsetRPS; r < 1-tolerance || r > 1+tolerance {
		t.Errorf("onset %.1f rps is %.1f %% off Tomcat's %.0f rps, want within %.0f %%", onset, (r-1)*100, tomcatOnsetRPS, tolerance*100)
	}
	if sum.Recovered || ok > 0 {
		t.Errorf("recovered = %v with %d/%d good probes; Tomcat answered none", sum.Recovered, ok, len(rec.Probes))
	}
	if len(rec.Probes) != 20 {
		t.Errorf("%d probes, want 20 like the Tomcat run", len(rec.Probes))
	}
	if sum.Verdict != results.VerdictHang {
		t.Errorf("verdict %s, want %s", sum.Verdict, results.VerdictHang)
	}
}
