package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/results"
)

// fpmQuick is the quick profile on PHP-FPM's shape behind nginx: a front proxy on the app's
// address (keep-alive to clients, a new upstream connection per request, closed when the
// client leaves, 504 after proxy_read_timeout) in front of a pool that accepts only with a
// free worker (bio) from a backlog of 4096 and closes after each answer, and self-calls on a
// new connection each, through the proxy. The read timeout is 3 s instead of nginx's 60 s, so
// that the 504s come within the run.
const fpmQuick = `description: "quick on the php-fpm shape: a front proxy (3 s read timeout) in front of 16 bio workers, backlog 4096"
stages:
  - duration: 20s
    from: 10
    target: 120
client:
  timeout: 1s
recovery:
  duration: 8s
  interval: 500ms
  timeout: 1s
server:
  max_threads: 16
  work_time: 200ms
  connector: bio
  accept_count: 4096
  keep_alive: false
  selfcall_pool: false
  front_proxy: true
  proxy_read_timeout: 3s
`

// TestFrontProxyEnginesAgree holds the engines to each other on the front proxy (nginx in front
// of PHP-FPM), with cmd/sim's rule (engineDisagreements): same verdict, onsets within a sample
// window, peak CLOSE_WAIT and goodput within 5 %; and both put the pile where the real rig has
// it: in the pool's listen backlog (the census counts the pool's port, not the proxy's), with
// the proxy's 504s freeing stuck self-calls, which does not end the hang: ~800 dead requests
// wait, 16 of which move through per read timeout. A socket run that disagrees runs once more.
func TestFrontProxyEnginesAgree(t *testing.T) {
	testtier.Long(t) // one or two real-socket runs of 28 s
	frontProxyAgree(t, fpmQuick)
}

// TestDynamicPoolEnginesAgree is TestFrontProxyEnginesAgree with PHP-FPM's pm = dynamic: the
// pool starts with 4 workers (Debian's start_servers is 2, and the rig's warm-up had grown it)
// and grows by one a second while none is idle, so it hangs early in the ramp.
func TestDynamicPoolEnginesAgree(t *testing.T) {
	testtier.Long(t) // one or two real-socket runs of 28 s
	dynamic := strings.Replace(fpmQuick, "  front_proxy: true\n", "  front_proxy: true\n  pool_start_workers: 4\n", 1)
	if dynamic == fpmQuick {
		t.Fatal("the profile has no front_proxy line to add pool_start_workers after")
	}
	frontProxyAgree(t, dynamic)
}

// frontProxyAgree runs profile (a YAML document) on the model and on sockets (twice at most)
// and holds them to each other and to the pile in the pool's backlog.
func frontProxyAgree(t *testing.T, profile string) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "fpm-quick.yaml")
	if err := os.WriteFile(prof, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(engine, out string) *results.Record {
		t.Helper()
		stalls := watchStalls()
		code, stdout, stderr := simRunFor(t, "", nil, 5*time.Minute, "run", "--engine", engine, "--profile", prof, "--out", out)
		t.Logf("%s: exit %d, worst stall of the machine %s\n%s", engine, code, stalls(), stdout)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", engine, code, stderr)
		}
		recs, _ := filepath.Glob(filepath.Join(out, "*"))
		if len(recs) != 1 {
			t.Fatalf("%s: records %v", engine, recs)
		}
		r, err := results.Read(recs[0])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// pileOnPool: a hang whose CLOSE_WAIT sockets sit in the pool's backlog, with 504s.
	pileOnPool := func(engine string, s results.Summary) {
		t.Helper()
		if s.Verdict != results.VerdictHang || s.PeakCloseWait < 300 || s.PeakAcceptQueue < s.PeakCloseWait*9/10 || s.ProxyTimeouts == 0 {
			t.Errorf("%s: verdict %s, peak CLOSE_WAIT %d, peak accept queue %d, 504s %d; want a hang with hundreds of CLOSE_WAIT, nearly all in the backlog, and 504s",
				engine, s.Verdict, s.PeakCloseWait, s.PeakAcceptQueue, s.ProxyTimeouts)
		}
		// The proxy closes a connection its client left at once: next to nothing on its port.
		if f := s.PeakFrontCloseWait; f == nil || *f > s.PeakCloseWait/20 {
			t.Errorf("%s: peak CLOSE_WAIT on the proxy's port %v; want it measured and under 5 %% of the pool's %d", engine, f, s.PeakCloseWait)
		}
	}
	m := run("model", filepath.Join(dir, "model"))
	pileOnPool("model", m.Summary)
	var ds []string
	for try := 1; try <= 2; try++ {
		s := run("sockets", filepath.Join(dir, "sockets"+string(rune('0'+try))))
		pileOnPool("sockets", s.Summary)
		// The census counted the pool's port, behind the proxy, not the app's (the proxy's).
		if c, pool, app := s.Summary.Census, portOfURL(t, s.Summary.PoolURL), portOfURL(t, s.Summary.AppURL); c == nil || c.Port != pool || pool == app {
			t.Errorf("sockets: census %+v; want the pool's port %d (the proxy's is %d)", c, pool, app)
		}
		ds = engineDisagreements(s.Summary, m.Summary, sampleWindow(s))
		t.Logf("run %d: sockets vs model: verdict %s vs %s, onset %s vs %s, peak CLOSE_WAIT %d vs %d, peak accept queue %d vs %d, goodput %.1f vs %.1f OK/s, 504s %d vs %d, 499s %d vs %d; disagreements %q",
			try, s.Summary.Verdict, m.Summary.Verdict, optS(s.Summary.CollapseOnsetS), optS(m.Summary.CollapseOnsetS),
			s.Summary.PeakCloseWait, m.Summary.PeakCloseWait, s.Summary.PeakAcceptQueue, m.Summary.PeakAcceptQueue,
			goodputOf(s.Summary), goodputOf(m.Summary), s.Summary.ProxyTimeouts, m.Summary.ProxyTimeouts,
			s.Summary.ProxyClientClosed, m.Summary.ProxyClientClosed, ds)
		if len(ds) == 0 {
			return
		}
	}
	t.Errorf("sockets and model disagree on both runs: %s", strings.Join(ds, "; "))
}

// portOfURL is the port of a base URL of the summary.
func portOfURL(t *testing.T, raw string) uint16 {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url %q: %v", raw, err)
	}
	n, _ := strconv.Atoi(u.Port())
	return uint16(n)
}
