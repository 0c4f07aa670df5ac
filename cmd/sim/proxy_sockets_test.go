package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

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
	t.Helper()
	// pileOnPool: a hang whose CLOSE_WAIT sockets sit in the pool's backlog, with 504s.
	pileOnPool := func(engine string, s results.Summary) (wrong []string) {
		if s.Verdict != results.VerdictHang || s.PeakCloseWait < 300 || s.PeakAcceptQueue < s.PeakCloseWait*9/10 || s.ProxyTimeouts == 0 {
			wrong = append(wrong, fmt.Sprintf("%s: verdict %s, peak CLOSE_WAIT %d, peak accept queue %d, 504s %d; want a hang with hundreds of CLOSE_WAIT, nearly all in the backlog, and 504s",
				engine, s.Verdict, s.PeakCloseWait, s.PeakAcceptQueue, s.ProxyTimeouts))
		}
		// The proxy closes a connection its client left at once: next to nothing on its port.
		if f := s.PeakFrontCloseWait; f == nil || *f > s.PeakCloseWait/20 {
			wrong = append(wrong, fmt.Sprintf("%s: peak CLOSE_WAIT on the proxy's port %v; want it measured and under 5 %% of the pool's %d", engine, f, s.PeakCloseWait))
		}
		return wrong
	}
	m, _ := enginesAgree(t, "fpm-quick", profile, func(s, m *results.Record) []string {
		wrong := pileOnPool("sockets", s.Summary)
		// The census counted the pool's port, behind the proxy, not the app's (the proxy's).
		if c, pool, app := s.Summary.Census, portOfURL(t, s.Summary.PoolURL), portOfURL(t, s.Summary.AppURL); c == nil || c.Port != pool || pool == app {
			wrong = append(wrong, fmt.Sprintf("sockets: census %+v; want the pool's port %d (the proxy's is %d)", c, pool, app))
		}
		return wrong
	})
	for _, w := range pileOnPool("model", m.Summary) {
		t.Error(w)
	}
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
