package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

// externalProfile is faultProfile without the server section, which external mode ignores:
// the server under test is started by the test with the same 4 workers x 100 ms.
const externalProfile = `description: external target, about 8 s
stages:
  - {duration: 6s, from: 10, target: 60}
client: {timeout: 1s}
recovery: {duration: 2s, interval: 250ms, timeout: 500ms}
detect: {hang_hold: 1500ms}
`

// A target outside loopback without --allow-remote is refused before anything is sent: exit 2
// naming --target, at once. The addresses are never dialled: the refusal comes before any
// connection, as the time taken shows (a dial to an unreachable address would wait for its
// timeout), and no record is made.
func TestRunRefusesRemoteTarget(t *testing.T) {
	profile := writeFile(t, t.TempDir(), "ext.yaml", externalProfile)
	targets := []string{
		"http://10.1.2.3:8080/page",       // private network
		"http://203.0.113.7/page",         // public (TEST-NET-3)
		"http://example.com/page",         // a host name: not even resolved
		"https://[2001:db8::1]:8443/page", // IPv6, global
		"http://0.0.0.0:8080/page",        // "this host" on Linux, but not a loopback address
		"http://127.0.0.1.example.com/",   // a name that only looks like loopback
	}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "runs")
			start := time.Now()
			code, stdout, stderr := simRun(t, nil, "run", "--target", target, "--profile", profile, "--out", out)
			took := time.Since(start)
			if code != 2 {
				t.Fatalf("exit %d, want 2: %s", code, stderr)
			}
			if took > time.Second {
				t.Errorf("refusal took %s, want under 1 s: it must come before any dial", took)
			}
			mustContain(t, "message", stderr, "--target", target, "--allow-remote")
			if strings.Contains(stderr, "will send") || stdout != "" {
				t.Errorf("printed a plan or a summary for a refused target: %q %q", stdout, stderr)
			}
			if fileExists(out) {
				t.Errorf("a refused run made %s", out)
			}
		})
	}
}

// The notice --allow-remote prints before attacking another machine says what, how fast, how
// long and how much.
func TestRemoteNotice(t *testing.T) {
	prof, err := loadprofiles.Parse("ext.yaml", []byte(externalProfile))
	if err != nil {
		t.Fatal(err)
	}
	got := remoteNotice("http://10.1.2.3:8080/page", prof, 8080, "")
	for _, want := range []string{
		"--allow-remote: will send GET http://10.1.2.3:8080/page",
		"up to 60 rps for 6s",
		"about 210 requests", // (10+60)/2 rps x 6 s
		"probe it for 2s",
		"local port 8080",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("notice %q lacks %q", got, want)
		}
	}
}

// External mode end to end against a running sim serve: self hangs, split does not, and each
// record is readable by sim report.
func TestRunExternal(t *testing.T) {
	testtier.Long(t) // two 8 s runs
	profile := writeFile(t, t.TempDir(), "ext.yaml", externalProfile)
	for _, tt := range []struct {
		topology string
		hang     bool
	}{{"self", true}, {"split", false}} {
		t.Run(tt.topology, func(t *testing.T) {
			srv := startServe(t, "--topology", tt.topology, "--max-threads", "4", "--work-time", "100ms")
			out := t.TempDir()
			app := srv.URL("app")
			code, stdout, stderr := simRun(t, nil, "run", "--target", app+"/page", "--watch-port", port(app),
				"--admin", srv.URL("admin"), "--profile", profile, "--out", out, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if strings.Contains(stderr, "will send") {
				t.Errorf("printed the remote notice for a loopback target: %s", stderr)
			}
			var printed results.Summary
			if err := json.Unmarshal([]byte(stdout), &printed); err != nil {
				t.Fatalf("--json printed %q: %v", stdout, err)
			}
			dirs, _ := filepath.Glob(filepath.Join(out, "*-external"))
			if len(dirs) != 1 {
				t.Fatalf("records: %v", dirs)
			}
			rec, err := results.Read(dirs[0])
			if err != nil {
				t.Fatal(err)
			}
			s := rec.Summary
			if !s.Complete || s.Hang != tt.hang {
				t.Fatalf("complete=%v hang=%v verdict %s (onset %v, recovered %v), want hang=%v",
					s.Complete, s.Hang, s.Verdict, s.CollapseOnsetS, s.Recovered, tt.hang)
			}
			if tt.hang && s.PeakCloseWait == 0 {
				t.Errorf("a hang with no CLOSE_WAIT on the watched port %s", port(app))
			}
			busy := 0
			for _, r := range rec.Timeline {
				busy = max(busy, r.WorkersBusy)
			}
			if busy != 4 {
				t.Errorf("peak workers busy %d from --admin, want the 4 of the server", busy)
			}
			reportOK(t, dirs[0])
			select {
			case <-srv.Done():
				t.Errorf("sim serve ended during an external run, which must leave it alone: %s", srv.Output())
			default:
			}
		})
	}
}
