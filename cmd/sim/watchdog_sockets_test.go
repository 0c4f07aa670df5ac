package main

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/results"
)

// gunicornWatchdogQuick is the quick profile on the gunicorn-sync shape (see gunicornSyncQuick)
// with a short watchdog: a worker stuck 3 s in one page is killed and its replacement takes
// requests 0.5 s later, so that kills come within the run (gunicorn's own is 30 s), and 12 s of
// probes after the load, long enough for three rounds of kills after it.
const gunicornWatchdogQuick = `description: "quick on the gunicorn-sync shape with a 3 s watchdog"
stages:
  - duration: 20s
    from: 10
    target: 120
client:
  timeout: 1s
recovery:
  duration: 12s
  interval: 500ms
  timeout: 1s
server:
  max_threads: 16
  work_time: 200ms
  connector: bio
  accept_count: 2048
  keep_alive: false
  selfcall_pool: false
  worker_timeout: 3s
  worker_boot: 500ms
`

// TestWatchdogEnginesAgree holds the engines to each other on the watchdog: on the gunicorn
// shape with worker_timeout 3s both kill workers, round after round, and neither recovers (each
// replacement takes a dead page from the backlog and its self-call queues behind the rest); they
// agree by cmd/sim's rule (engineDisagreements: verdict, onsets within a sample window, peak
// CLOSE_WAIT and goodput within 5 %) and on the number of kills within one round of 16. A
// socket run that disagrees runs once more, as in TestMechanicsEnginesAgree.
func TestWatchdogEnginesAgree(t *testing.T) {
	testtier.Long(t) // one or two real-socket runs of 32 s
	m, _ := enginesAgree(t, "gunicorn-watchdog-quick", gunicornWatchdogQuick, func(s, m *results.Record) (wrong []string) {
		ks, km := s.Summary.WorkerKills, m.Summary.WorkerKills
		if ks == 0 {
			wrong = append(wrong, "the socket engine killed no worker")
		}
		if d := math.Abs(float64(ks - km)); d > 16 {
			wrong = append(wrong, fmt.Sprintf("kills %d vs %d: more than one round of 16 apart", ks, km))
		}
		return wrong
	})
	// 16 workers stuck from the onset (~12 s), killed every 3.5 s after 3 s: several rounds.
	if m.Summary.Verdict != results.VerdictHang || m.Summary.WorkerKills < 32 {
		t.Errorf("model: %s, %d kills; want a hang with at least two rounds of 16 kills", m.Summary.VerdictLine(), m.Summary.WorkerKills)
	}
	if !strings.Contains(m.Summary.VerdictLine(), "the watchdog killed") {
		t.Errorf("model: verdict line %q does not say what the watchdog did", m.Summary.VerdictLine())
	}
}
