package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/child"
)

// runWatchToken is the agents' token in these tests (at least watch.MinTokenLen characters).
const runWatchToken = "run-watch-test-token-0123456789"

// --watch mistakes are refused at once with exit 2, naming the flags, before any record is made
// or anything is dialled, and a misplaced token is never echoed.
func TestRunWatchBadFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"watch without target", []string{"--watch", "http://127.0.0.1:8082"}, []string{"--watch", "--target"}},
		{"watch with watch-port", []string{"--target", "http://127.0.0.1:8080/page", "--watch", "http://127.0.0.1:8082", "--watch-port", "8080"}, []string{"--watch-port", "--watch"}},
		{"token without watch", []string{"--target", "http://127.0.0.1:8080/page", "--watch-token", runWatchToken}, []string{"--watch-token", "only with --watch"}},
		{"remote agent without allow-remote", []string{"--target", "http://127.0.0.1:8080/page", "--watch", "http://10.254.0.2:8082"}, []string{"--watch", "10.254.0.2", "--allow-remote"}},
		{"not an agent URL", []string{"--target", "http://127.0.0.1:8080/page", "--watch", "ftp://127.0.0.1:8082"}, []string{"--watch", "http://"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "runs")
			start := time.Now()
			code, stdout, stderr := simRun(t, nil, append([]string{"run", "--profile", "quick", "--out", out}, tt.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2: %s", code, stderr)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("refusal took %s: it must come before any dial", took)
			}
			mustContain(t, "message", stderr, tt.want...)
			if strings.Contains(stderr, runWatchToken) || stdout != "" {
				t.Errorf("echoed the token or printed a summary: %q %q", stdout, stderr)
			}
			if fileExists(out) {
				t.Errorf("a refused run made %s", out)
			}
		})
	}
}

// External mode with the census from a sim watch agent beside the app (here on loopback, with
// a token from SIM_WATCH_TOKEN): self hangs with CLOSE_WAIT climbing on the timeline, and the
// record, the printed summary and the report name the agent.
func TestRunWatch(t *testing.T) {
	testtier.Long(t) // an 8 s run
	srv := startServe(t, "--topology", "self", "--max-threads", "4", "--work-time", "100ms")
	app := srv.URL("app")
	agent := startWatch(t, []string{watchTokenEnv + "=" + runWatchToken}, "--port", port(app))
	profile := writeFile(t, t.TempDir(), "ext.yaml", externalProfile)
	out := t.TempDir()
	code, stdout, stderr := simRun(t, []string{watchTokenEnv + "=" + runWatchToken},
		"run", "--target", app+"/page", "--watch", agent.URL("watch"), "--profile", profile, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mustContain(t, "summary", stdout, "socket census", "agent "+agent.URL("watch"), "port "+port(app))
	rec := onlyRecord(t, out)
	s := rec.Summary
	if !s.Hang {
		t.Fatalf("verdict %s, want a hang", s.Verdict)
	}
	checkAgentRecord(t, rec, agent.URL("watch"))
	report := t.TempDir()
	if code, _, stderr := simRun(t, nil, "report", "--out", report, rec.Dir); code != 0 {
		t.Fatalf("sim report: exit %d: %s", code, stderr)
	}
	md, err := os.ReadFile(filepath.Join(report, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "report.md", string(md), "socket census", "agent "+agent.URL("watch"))
}

// onlyRecord reads the one run record under out.
func onlyRecord(t *testing.T, out string) *results.Record {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(out, "*-external"))
	if len(dirs) != 1 {
		t.Fatalf("records: %v", dirs)
	}
	rec, err := results.Read(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// checkAgentRecord checks what a hung self run read through the agent at agentURL left: the
// census named in summary.json and config.json, few gaps, and CLOSE_WAIT climbing on the
// runner's timeline as it does in local mode — one socket per client that timed out and closed,
// since the app never reads or closes them.
func checkAgentRecord(t *testing.T, rec *results.Record, agentURL string) {
	t.Helper()
	s := rec.Summary
	c := s.Census
	if c == nil || c.Source != results.CensusAgent || c.URL != agentURL || c.Method == "" {
		t.Fatalf("summary census %+v, want the agent %s", c, agentURL)
	}
	if c.Windows != len(rec.Timeline) || c.Gaps > c.Windows/5 {
		t.Errorf("census: %d gaps of %d windows (timeline %d; last gap %q), want few", c.Gaps, c.Windows, len(rec.Timeline), c.LastGap)
	}
	cfg, err := os.ReadFile(filepath.Join(rec.Dir, results.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "config.json", string(cfg), `"census": "agent"`, `"watch": "`+agentURL+`"`)
	if bytes.Contains(cfg, []byte(runWatchToken)) {
		t.Error("config.json holds the agent's token")
	}
	timeouts, last := 0, -1
	for i, w := range rec.Timeline {
		if w.Phase != results.PhaseLoad {
			break
		}
		timeouts += w.ErrTimeout
		if !w.SocketsMissing {
			last = i
		}
	}
	if last < 0 || s.CollapseOnsetS == nil {
		t.Fatalf("no load window with a census, or no onset (%v)", s.CollapseOnsetS)
	}
	end := rec.Timeline[last]
	if end.CloseWait < 20 || end.CloseWait < timeouts/2 || end.CloseWait <= s.OnsetCloseWait {
		t.Errorf("CLOSE_WAIT %d at the end of the load (%d client timeouts by then, %d at the onset): it did not climb with the timeouts",
			end.CloseWait, timeouts, s.OnsetCloseWait)
	}
	if s.PeakCloseWait < end.CloseWait {
		t.Errorf("peak CLOSE_WAIT %d below the %d at the end of the load", s.PeakCloseWait, end.CloseWait)
	}
	t.Logf("census %s: %d gaps of %d windows, clock offset %v ms; CLOSE_WAIT %d at onset, %d at load end (%d timeouts), peak %d",
		c, c.Gaps, c.Windows, deref(c.ClockOffsetMS), s.OnsetCloseWait, end.CloseWait, timeouts, s.PeakCloseWait)
}

// netns is a network namespace made by a test, joined to the test's own namespace by a veth
// pair with a /30 of 10.254.0.0/16 (both ends inside this machine): the app's address is
// addr, the test's side peer.
type netns struct {
	name, addr, peer string
}

// newNetns makes a namespace with lo up and a veth pair to it, all removed when the test ends.
// Where namespaces cannot be made (not root, no ip(8), no CAP_NET_ADMIN) it skips naming why,
// except with CI=true, where that is a failure.
func newNetns(t *testing.T) *netns {
	t.Helper()
	cannot := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot make a network namespace: %s", why)
		}
		t.Skipf("cannot make a network namespace here: %s", why)
	}
	if os.Geteuid() != 0 {
		cannot("not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		cannot("no ip(8): " + err.Error())
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b[:2])
	n := &netns{name: "simtest" + id}
	// A /30 whose third octet is random, refused if this machine already uses it.
	third := int(b[2])
	n.peer, n.addr = fmt.Sprintf("10.254.%d.1", third), fmt.Sprintf("10.254.%d.2", third)
	if out, _ := exec.Command("ip", "-o", "addr", "show", "to", fmt.Sprintf("10.254.%d.0/30", third)).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Skipf("10.254.%d.0/30 is in use on this machine: %s", third, out)
	}
	hostEnd, nsEnd := "simv"+id+"h", "simv"+id+"n"
	ip := func(args ...string) error {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := ip("netns", "add", n.name); err != nil {
		cannot(err.Error())
	}
	// Deleting the namespace destroys its veth end and with it the pair; the host end is
	// deleted first anyway, so that nothing is left if the namespace cannot be.
	t.Cleanup(func() {
		_ = ip("link", "del", hostEnd)
		if err := ip("netns", "del", n.name); err != nil {
			t.Errorf("remove the test's namespace: %v", err)
		}
	})
	for _, args := range [][]string{
		{"-n", n.name, "link", "set", "lo", "up"},
		{"link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd, "netns", n.name},
		{"addr", "add", n.peer + "/30", "dev", hostEnd},
		{"link", "set", hostEnd, "up"},
		{"-n", n.name, "addr", "add", n.addr + "/30", "dev", nsEnd},
		{"-n", n.name, "link", "set", nsEnd, "up"},
	} {
		if err := ip(args...); err != nil {
			cannot(err.Error())
		}
	}
	return n
}

// start runs sim with args inside the namespace, waits for its ready lines, and stops it when
// the test ends (`ip netns exec` execs sim, so the pid is sim's).
func (n *netns) start(t *testing.T, name string, env []string, ready []string, args ...string) *child.Process {
	t.Helper()
	p, err := child.Start(context.Background(), child.Spec{
		Name: name, Path: "ip", Args: append([]string{"netns", "exec", n.name, simBin}, args...),
		Env: env, Ready: ready, ReadyTimeout: 15 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(3 * time.Second) })
	return p
}

// ssCloseWait counts the CLOSE_WAIT sockets of port inside the namespace with ss(8), as a
// person would check the agent: ss -Htn state close-wait sport = :PORT | wc -l.
func (n *netns) ssCloseWait(port string) (int, error) {
	out, err := exec.Command("ip", "netns", "exec", n.name, "ss", "-Htn", "state", "close-wait", "sport", "=", ":"+port).Output()
	if err != nil {
		return 0, err
	}
	return bytes.Count(out, []byte("\n")), nil
}

// The first "must be true": an app started by sim serve in a network namespace of its
// own (what a container is), reached over a veth pair, attacked by sim run from outside through
// the census of a sim watch agent inside the namespace. The self topology's CLOSE_WAIT climbs on
// the runner's timeline as in local mode, and the agent's figure matches ss inside the
// namespace taken at the same moment. The runner refuses the namespace's address without
// --allow-remote.
func TestRunWatchNamespace(t *testing.T) {
	testtier.Long(t) // an 8 s run in a network namespace
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("no ss(8) to compare the agent with")
	}
	ns := newNetns(t)
	srv := ns.start(t, "sim serve", nil, []string{"app", "admin"}, "serve", "--topology", "self", "--max-threads", "4", "--work-time", "100ms",
		"--addr", net.JoinHostPort(ns.addr, "0"), "--allow-non-loopback")
	app := srv.URL("app")
	if !strings.HasPrefix(app, "http://"+ns.addr+":") {
		t.Fatalf("sim serve listens at %s, want the namespace's %s", app, ns.addr)
	}
	appPort := port(app)
	agent := ns.start(t, "sim watch", []string{watchTokenEnv + "=" + runWatchToken}, []string{"watch"},
		"watch", "--port", appPort, "--addr", net.JoinHostPort(ns.addr, "0"), "--allow-non-loopback")
	agentURL := agent.URL("watch")
	// The app's CLOSE_WAIT sockets live in the namespace: this side's kernel has none of them.
	if n, err := ns.ssCloseWait(appPort); err != nil {
		t.Fatalf("ss in the namespace: %v", err)
	} else if n != 0 {
		t.Fatalf("%d CLOSE_WAIT sockets on an idle app", n)
	}

	profile := writeFile(t, t.TempDir(), "ext.yaml", externalProfile)
	args := []string{"run", "--target", app + "/page", "--watch", agentURL, "--profile", profile}
	// The loopback guard: the namespace's address is another host to the runner.
	code, _, stderr := simRun(t, []string{watchTokenEnv + "=" + runWatchToken}, append(args, "--out", t.TempDir())...)
	if code != 2 || !strings.Contains(stderr, "--allow-remote") {
		t.Fatalf("without --allow-remote: exit %d, %s; want 2 naming --allow-remote", code, stderr)
	}

	// While the run goes, read the agent and ss inside the namespace at the same moments: the
	// agent's census bracketed by two ss counts.
	type pair struct{ before, agent, after int }
	var (
		mu    sync.Mutex
		pairs []pair
	)
	ctx, cancel := context.WithCancel(context.Background())
	compared := make(chan struct{})
	go func() {
		defer close(compared)
		hc := &http.Client{Timeout: 2 * time.Second}
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			before, err1 := ns.ssCloseWait(appPort)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, agentURL+"/census", nil)
			req.Header.Set("Authorization", "Bearer "+runWatchToken)
			resp, err2 := hc.Do(req)
			var c struct {
				Server map[string]int `json:"server"`
			}
			if err2 == nil {
				err2 = json.NewDecoder(resp.Body).Decode(&c)
				resp.Body.Close()
			}
			after, err3 := ns.ssCloseWait(appPort)
			if err1 == nil && err2 == nil && err3 == nil {
				mu.Lock()
				pairs = append(pairs, pair{before, c.Server["close_wait"], after})
				mu.Unlock()
			}
		}
	}()
	out := t.TempDir()
	code, stdout, stderr := simRun(t, []string{watchTokenEnv + "=" + runWatchToken}, append(args, "--allow-remote", "--out", out)...)
	cancel()
	<-compared
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mustContain(t, "stderr", stderr, "--allow-remote: will send GET "+app+"/page", "counted by the sim watch agent at "+agentURL)
	mustContain(t, "summary", stdout, "agent "+agentURL)
	rec := onlyRecord(t, out)
	if !rec.Summary.Hang {
		t.Fatalf("verdict %s, want a hang", rec.Summary.Verdict)
	}
	checkAgentRecord(t, rec, agentURL)
	// Those sockets are invisible from the runner's side: its kernel has none of them.
	if out, err := exec.Command("ss", "-Htn", "state", "close-wait", "src", ns.addr).Output(); err != nil || len(out) > 0 {
		t.Errorf("ss outside the namespace (%v) sees the app's CLOSE_WAIT sockets:\n%s", err, out)
	}

	// "Within a few": CLOSE_WAIT moves by about one per client timeout, a few per the
	// milliseconds between the agent's sample and ss's.
	const few = 3
	mu.Lock()
	defer mu.Unlock()
	climbed := 0
	for _, p := range pairs {
		lo, hi := min(p.before, p.after), max(p.before, p.after)
		if p.agent < lo-few || p.agent > hi+few {
			t.Errorf("agent CLOSE_WAIT %d, ss in the namespace %d before and %d after", p.agent, p.before, p.after)
		}
		climbed = max(climbed, p.agent)
	}
	if len(pairs) < 5 || climbed < 20 {
		t.Errorf("%d comparisons, the largest at %d CLOSE_WAIT: too few to compare the agent with ss", len(pairs), climbed)
	}
	t.Logf("agent vs ss in namespace %s: %d comparisons, up to %d CLOSE_WAIT; %v", ns.name, len(pairs), climbed, pairs)
}
