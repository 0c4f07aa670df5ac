package model

import (
	"math"
	"testing"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/simulator/app"
)

// A clone redraws the clocks that have no memory: the time to the next Poisson arrival and
// the rest of an exponential work time are fresh exponentials in every clone (so the clones of
// one state diverge at once), while a fixed work time keeps its end. Checked on the means over
// many clones of one state: the original's own draws would give one value for all.
func TestCloneRedrawsMemorylessClocks(t *testing.T) {
	const (
		rate   = 35.0
		clones = 4000
	)
	for _, dist := range []string{app.WorkExponential, app.WorkFixed} {
		t.Run(dist, func(t *testing.T) {
			f := steadyFactory(t, serverConfig(app.Self, func(c *app.Config) { c.WorkTimeDist = dist }), loadprofiles.Client{})
			s := f(rate, 11).(*steady)
			for s.Now() < 30 || s.Level() < 4 {
				s.Step()
			}
			e := s.e
			origArrival := e.ag.arrival.t
			origEnds := workEnds(e)
			var arrivalSum, restSum float64
			var rests int
			arrivals := map[float64]bool{}
			for i := range clones {
				c := s.Clone(uint64(i)).(*steady).e
				if c.now != e.now || c.level() != e.level() {
					t.Fatalf("clone at %g with level %d of a state at %g with level %d", c.now, c.level(), e.now, e.level())
				}
				arrivalSum += c.ag.arrival.t - c.now
				arrivals[c.ag.arrival.t] = true
				ends := workEnds(c)
				if len(ends) != len(origEnds) {
					t.Fatalf("clone has %d work times under way, the original %d", len(ends), len(origEnds))
				}
				for id, end := range ends {
					if end < c.now {
						t.Fatalf("work time of page %d ends at %g, before the clone's now %g", id, end, c.now)
					}
					if dist == app.WorkFixed && end != origEnds[id] {
						t.Fatalf("fixed work time of page %d moved from %g to %g", id, origEnds[id], end)
					}
					restSum += end - c.now
					rests++
				}
			}
			if e.ag.arrival.t != origArrival || !sameEnds(workEnds(e), origEnds) {
				t.Fatal("cloning changed the original's clocks")
			}
			if len(arrivals) < clones*99/100 {
				t.Errorf("%d distinct next arrivals among %d clones", len(arrivals), clones)
			}
			// Exp(rate): mean 1/rate, standard error 1/(rate·√clones) = 1.6 % of it.
			if mean := arrivalSum / clones; math.Abs(mean*rate-1) > 0.06 {
				t.Errorf("mean time to the next arrival over %d clones %.4f s, want 1/%g = %.4f s", clones, mean, rate, 1/rate)
			}
			if dist == app.WorkExponential {
				// Memoryless: what remains of a work time under way is again exponential with
				// the work time's mean, however long it has run.
				want := serverConfig(app.Self, nil).WorkTime.Seconds()
				if mean := restSum / float64(rests); math.Abs(mean/want-1) > 0.06 {
					t.Errorf("mean rest of the work times under way %.4f s over %d, want %.4f s", mean, rests, want)
				}
			}
		})
	}
}

func workEnds(e *engine) map[int32]float64 {
	ends := map[int32]float64{}
	add := func(ev event) {
		if r := e.reqs.live(ref{ev.id, ev.gen}); ev.kind == evWorkEnd && r != nil && r.state == rsWorking {
			ends[ev.id] = ev.t
		}
	}
	for _, ev := range e.ag.h {
		add(ev)
	}
	q := &e.ag.q[qWork]
	for k := 0; k < int(q.n); k++ {
		add(q.buf[(int(q.head)+k)%len(q.buf)])
	}
	return ends
}

func sameEnds(a, b map[int32]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A steady system does not follow TIME_WAIT sockets or the end of FIN_WAIT2 (Steady says why
// that cannot change a hang). Checked: the same system with them followed goes through the
// same levels at the same times, holds the same fds and hangs at the same moment, including at
// an fd limit small enough to be reached and with clients that time out (CLOSE_WAIT).
func TestSteadyWithoutTimeWaitSameHang(t *testing.T) {
	cases := []struct {
		name   string
		cfg    app.Config
		client loadprofiles.Client
		rate   float64
	}{
		{"self, one connection per request", serverConfig(app.Self, nil), loadprofiles.Client{}, 30},
		{"self at the fd limit, clients time out", serverConfig(app.Self, func(c *app.Config) { c.NoFile = 128; c.AcceptCount = 10 }),
			loadprofiles.Client{Timeout: time.Second}, 30},
		{"self with timeouts at the fd limit, overloaded", serverConfig(app.Self, func(c *app.Config) {
			c.SocketTimeout, c.ConnectionRequestTimeout, c.NoFile, c.AcceptCount = 300*time.Millisecond, 100*time.Millisecond, 128, 10
		}), loadprofiles.Client{Timeout: time.Second}, 90},
		{"self with timeouts, keep-alive", serverConfig(app.Self, func(c *app.Config) {
			c.SocketTimeout, c.ConnectionRequestTimeout, c.TCPKeepAlive = 300*time.Millisecond, 100*time.Millisecond, true
			c.KeepAliveTimeout = 2 * time.Second
		}), loadprofiles.Client{Timeout: time.Second, Keepalive: true, Connections: 4}, 70},
	}
	type change struct {
		t          float64
		level, fds int
		absorbed   bool
	}
	trace := func(s *steady, horizon float64) (out []change, peakTimeWait int) {
		last := change{level: -1}
		for s.Now() < horizon && s.Step() {
			peakTimeWait = max(peakTimeWait, s.e.tcp.srv[tTimeWait]+s.e.tcp.cli[tTimeWait])
			c := change{s.Now(), s.Level(), s.e.tcp.fds(), s.Absorbed()}
			if c.level != last.level || c.fds != last.fds || c.absorbed != last.absorbed {
				out = append(out, c)
				last = c
			}
		}
		return out, peakTimeWait
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := steadyFactory(t, tc.cfg, tc.client)
			plain := f(tc.rate, 7).(*steady)
			full := f(tc.rate, 7).(*steady)
			p := *full.e.p
			p.sockets = true
			full.e.p = &p
			a, none := trace(plain, 300)
			b, peak := trace(full, 300)
			if none != 0 || peak == 0 {
				t.Fatalf("peak TIME_WAIT %d without, %d with: no check", none, peak)
			}
			if len(a) != len(b) {
				t.Fatalf("%d changes of level or fds without TIME_WAIT, %d with", len(a), len(b))
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("change %d: %+v without TIME_WAIT, %+v with", i, a[i], b[i])
				}
			}
			t.Logf("%d changes of level or fds, absorbed %v at %.1f s, %d accept errors (EMFILE); up to %d TIME_WAIT sockets when followed",
				len(a), plain.Absorbed(), a[len(a)-1].t, plain.e.app.acceptErrors, peak)
		})
	}
}

// The server closes a keep-alive connection once it has been idle for keep_alive_timeout, and
// not before, however often it was used in between (one timer per connection, armed again when
// it fires early: see conn.timerSet).
func TestKeepAliveIdleTimeout(t *testing.T) {
	const idle = time.Second
	cfg := serverConfig(app.Self, func(c *app.Config) { c.KeepAliveTimeout = idle })
	s := steadyFactory(t, cfg, loadprofiles.Client{Keepalive: true, Connections: 100})(3, 4).(*steady)
	e := s.e
	type spell struct {
		gen uint32
		at  float64
	}
	idleNow := map[int32]spell{}
	closed := 0
	for s.Now() < 600 && s.Step() {
		for id, sp := range idleNow {
			c := &e.conns.all[id]
			if c.gen == sp.gen && c.idle && c.idleAt == sp.at && c.acc == aAccepted {
				continue
			}
			delete(idleNow, id)
			if c.gen == sp.gen && c.acc == aAccepted {
				continue // used again
			}
			// Closed while idle: only the idle timer does that (the client keeps up to 100).
			closed++
			if d := e.now - sp.at; math.Abs(d-idle.Seconds()) > 1e-9 {
				t.Fatalf("at %.3f s: connection %d closed after %.6f s idle, want keep_alive_timeout %v", e.now, id, d, idle)
			}
		}
		for id := range e.conns.all {
			c := &e.conns.all[id]
			if c.app && c.idle && c.acc == aAccepted {
				idleNow[int32(id)] = spell{c.gen, c.idleAt}
			}
		}
	}
	if closed < 100 {
		t.Fatalf("%d keep-alive connections closed by the server in 10 minutes at 3 rps with a 1 s idle timeout", closed)
	}
	t.Logf("%d idle keep-alive connections closed, each after exactly %v", closed, idle)
}
