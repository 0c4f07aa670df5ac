package watch

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/simdev/sim/simulator/sockets"
)

// Self-calls: an app's calls to its own listener.
//
// A socket is a self-call when a process behind the port (the listener's holders and their
// descendants, see [Watcher] and findHolders) holds it, its remote port is the port, and its
// remote end is a server-side socket of the port in this network namespace: the sample holds
// both ends of the connection, so a call to another host on the same port number is not one.
//
// A self-call is waiting when its client side has sent a request and received nothing since
// ([sockets.Socket.AwaitingReply], from the kernel's tcp_info): the worker that made it is
// blocked inside it. Its server side says where the request sits: not yet accepted (in the
// listener's accept queue: the socket has no inode), accepted but not yet read (bytes in its
// receive queue: a Tomcat NIO request queued for a worker), or read and in the app's hands (a
// Go server reads the request before its handler waits for a worker, so a self-call queued
// behind the pool is there). Its age is how long ago the request was sent.

// DefaultWarnAfter is the age of the oldest waiting self-call from which the census warns. A
// healthy self-call of a static file is answered in milliseconds; one that waits a quarter of
// a second is queued behind requests that hold the pool, the state a deadlock starts from.
// Measured on sockets (docs/watch.md): before an onset it fired in no run (sim's app on the
// ramps and holds, the fixes, a real Tomcat 10.1), where 100 ms fired once on the healthy
// Tomcat; in a hang it fires one or two 250 ms census windows after the onset, one window
// earlier than 500 ms. It did fire on an async app driven to 150 % of its bound, after its
// saturation collapse (a self-call queued 412 ms behind a deep queue).
const DefaultWarnAfter = 250 * time.Millisecond

// DefaultWarnFraction is the share of the worker pool (--workers) that the requests held at
// once (SelfCalls.RequestsInFlightPeak) must reach, in an app seen calling itself, for the pool
// warning: 14 of 16 workers. The deadlock comes when every worker holds a page; on sim's quick
// ramp (16 workers x 200 ms) 14 were held 1.5 to 1.75 s before it, while a steady even load at
// 70 % of Little's bound (11.2 workers busy on average) held at most 13 (docs/watch.md): 13
// would have left no margin there, 15 led the ramp's collapse by 0.5 to 0.75 s only.
const DefaultWarnFraction = 0.875

// groupRefresh spaces the searches for the processes below the listener's holders: a pre-fork
// server starts new workers now and then, and the search reads every /proc/PID/stat (a few
// milliseconds on a busy host), too much for every sample.
const groupRefresh = 5 * time.Second

// SelfCalls is the self-call part of a census.
type SelfCalls struct {
	// Connections counts the self-calls' client sockets by state, under the kernel's names
	// in lower case, zeros left out.
	Connections map[string]int `json:"connections"`
	// Waiting counts the self-calls whose request is sent and not yet answered.
	Waiting int `json:"waiting"`
	// WaitingAcceptQueue counts those of Waiting whose server side is still in the
	// listener's accept queue, and WaitingUnread those accepted whose request is not yet
	// read.
	WaitingAcceptQueue int `json:"waiting_accept_queue"`
	WaitingUnread      int `json:"waiting_unread"`
	// OldestWaitMS is the age of the oldest waiting self-call in milliseconds (since its
	// request was sent), 0 when none waits.
	OldestWaitMS int64 `json:"oldest_wait_ms"`
	// Callers counts the distinct processes with a waiting self-call. Threads cannot be told
	// apart from sockets (they share their process's fds); a thread-per-request server has
	// one worker blocked per waiting self-call.
	Callers int `json:"callers"`
	// Processes counts the processes behind the port: the listener's holders (one for
	// Tomcat, Jetty, sim serve; a pre-fork master and its workers) and their descendants.
	Processes int `json:"processes"`
	// FirstSeenUnixNano is the agent's wall clock at the first sample that found a self-call
	// connection, 0 when none was ever seen.
	FirstSeenUnixNano int64 `json:"first_seen_unix_nano"`
	// RequestsInFlight counts the port's server-side sockets holding a request not yet
	// answered (sockets.Socket.Unanswered), the self-calls' own included: the requests in
	// the app's hands, queued or worked on, from every client — what fills the pool.
	RequestsInFlight int `json:"requests_in_flight"`
	// RequestsInFlightPeak is the most requests the port's server-side sockets held at once
	// since the census before (at most peakWindowMax back), RequestsInFlight included:
	// rebuilt from each socket's last request in and last answer out (tcp_info), so a burst
	// that came and went between two censuses is seen. A lower bound: a kept-alive connection
	// shows only its last request.
	RequestsInFlightPeak int `json:"requests_in_flight_peak"`
	// Workers is the app's worker pool as the agent was told (--workers), 0 when unknown.
	Workers int `json:"workers"`
	// Warning is the early-warning rule: WaitWarning or PoolWarning.
	Warning bool `json:"warning"`
	// WaitWarning: at least one self-call has waited WarnAfterMS or longer.
	WaitWarning bool `json:"wait_warning"`
	// PoolWarning: the app was seen calling itself (FirstSeenUnixNano) and
	// RequestsInFlightPeak reaches WarnFraction of Workers; never without Workers.
	PoolWarning bool `json:"pool_warning"`
	// PoolRuleOff: the app held more requests than Workers while its self-calls were
	// answered within WarnAfterMS, in poolOffCensuses censuses in a row, so its workers are
	// not held inside its self-calls (an async app releases its worker during the call) and
	// the pool rule is off from then on. The wait rule stays on.
	PoolRuleOff bool `json:"pool_rule_off"`
	// WarnAfterMS and WarnFraction are the rule's thresholds.
	WarnAfterMS  int64   `json:"warn_after_ms"`
	WarnFraction float64 `json:"warn_fraction"`
}

// Total returns the number of self-call connections, all states.
func (s SelfCalls) Total() int {
	n := 0
	for _, v := range s.Connections {
		n += v
	}
	return n
}

// Established returns the self-call connections in ESTABLISHED.
func (s SelfCalls) Established() int { return s.Connections[stateName(sockets.Established)] }

// selfState is what a Watcher keeps from one self-call census to the next. The caller holds
// the Watcher's lock.
type selfState struct {
	roots     []int     // the listener's holders (or --pid)
	group     []int     // roots and their descendants
	groupAt   time.Time // when group was built
	owners    map[uint32]int
	firstSeen int64
	told      bool
	lastAt    time.Time // the census before, for RequestsInFlightPeak
	up        []int     // the holders of the upstream's listener (Options.Upstream)
	upErr     error     // why they were not found
	upAt      time.Time // when they were searched
	overSince time.Time // since when the census shows more requests than workers, self-calls answered
	overCount int       // censuses since overSince
	poolOff   bool      // SelfCalls.PoolRuleOff
}

// poolOffCensuses and poolOffWaits: the pool rule turns off when an app has held more requests
// than its workers, with no self-call waiting WarnAfter, in at least poolOffCensuses censuses
// in a row spanning at least poolOffWaits times WarnAfter. In a self-call deadlock the
// requests pass the pool at the onset with the stuck self-calls still young (measured: the
// oldest 40 ms in the onset's census), but those self-calls are never answered, so within
// that span one has waited WarnAfter; an async app driven past its pool held 18 to 28
// requests for a second and more with its self-calls answered within 60 ms (docs/watch.md).
const (
	poolOffCensuses = 2
	poolOffWaits    = 2
)

// peakWindowMax bounds how far back RequestsInFlightPeak looks: a census after a long pause
// (the agent samples every --interval, 1 s by default, and between scrapes) reports the peak
// of the last few seconds, not of an old burst.
const peakWindowMax = 5 * time.Second

// selfCalls computes the self-call census from the sockets of a sample. roots are the
// processes that hold the listener (the owner with --pid); nil when unknown.
func (w *Watcher) selfCalls(list []sockets.Socket, roots []int, now time.Time) (*SelfCalls, error) {
	st := &w.self
	if len(roots) == 0 {
		return nil, errors.New("no process behind the port: self-calls cannot be attributed")
	}
	if w.upstream != 0 {
		if st.upAt.IsZero() || now.Sub(st.upAt) >= groupRefresh {
			// The search reads every /proc/PID/fd: as seldom as the group's refresh.
			st.up, st.upErr = upstreamHolders(w.upstream)
			st.upAt = now
		}
		if st.upErr != nil {
			return nil, fmt.Errorf("self-calls through the proxy: %w", st.upErr)
		}
		roots = append(slices.Clone(roots), st.up...)
		slices.Sort(roots)
		roots = slices.Compact(roots)
	}
	if !slices.Equal(roots, st.roots) || now.Sub(st.groupAt) >= groupRefresh {
		below, err := descendants(roots)
		if err != nil {
			return nil, fmt.Errorf("self-calls: %w", err)
		}
		st.roots = slices.Clone(roots)
		st.group = append(slices.Clone(roots), below...)
		st.groupAt = now
		st.owners = nil // a new process may hold sockets already seen as no one's
	}
	port := w.port
	// Server-side sockets by their remote end, to find each client's other end.
	servers := make(map[netip.AddrPort]int, len(list)/2)
	for i, s := range list {
		if s.Local.Port() == port && s.State != sockets.Listen {
			servers[s.Remote] = i
		}
	}
	// Candidates: client sockets of the port that some process holds and whose other end is
	// here.
	want := map[uint32]int{}
	miss := false
	for _, s := range list {
		if s.Remote.Port() != port || s.Local.Port() == port || s.Inode == 0 {
			continue
		}
		if _, ok := servers[s.Local]; !ok {
			continue
		}
		want[s.Inode] = 0
		if _, ok := st.owners[s.Inode]; !ok {
			miss = true
		}
	}
	if miss {
		// A socket not seen before: read the group's fds once for all of them. Sockets seen
		// before keep their owner (an inode names one socket for its life), so a steady
		// sample reads no fd at all.
		found, err := socketOwners(st.group, want)
		if err != nil && len(found) == 0 && len(want) > 0 {
			return nil, fmt.Errorf("self-calls: %w", err)
		}
		owners := make(map[uint32]int, len(want))
		for ino := range want {
			owners[ino] = found[ino] // 0: no process of the group holds it
		}
		st.owners = owners
	} else {
		// Forget sockets that are gone, so the map stays the size of the sample.
		for ino := range st.owners {
			if _, ok := want[ino]; !ok {
				delete(st.owners, ino)
			}
		}
	}
	out := &SelfCalls{
		Connections:  map[string]int{},
		Processes:    len(st.group),
		Workers:      w.workers,
		WarnAfterMS:  w.warnAfter.Milliseconds(),
		WarnFraction: w.warnFraction,
	}
	for _, s := range list {
		if s.Local.Port() == port && s.Unanswered() {
			out.RequestsInFlight++
		}
	}
	since := peakWindowMax
	if !st.lastAt.IsZero() {
		since = min(since, now.Sub(st.lastAt))
	}
	st.lastAt = now
	out.RequestsInFlightPeak = max(out.RequestsInFlight, peakInFlight(list, port, since))
	callers := map[int]bool{}
	var oldest time.Duration
	for _, s := range list {
		if s.Remote.Port() != port || s.Local.Port() == port || s.Inode == 0 {
			continue
		}
		pid := st.owners[s.Inode]
		if pid == 0 {
			continue
		}
		out.Connections[stateName(s.State)]++
		if !s.AwaitingReply() {
			continue
		}
		out.Waiting++
		callers[pid] = true
		oldest = max(oldest, s.LastDataSent)
		if j, ok := servers[s.Local]; ok {
			peer := list[j]
			switch {
			case peer.Inode == 0:
				out.WaitingAcceptQueue++
			case peer.RQueue > 0:
				out.WaitingUnread++
			}
		}
	}
	out.Callers = len(callers)
	out.OldestWaitMS = oldest.Milliseconds()
	if st.firstSeen == 0 && len(out.Connections) > 0 {
		st.firstSeen = now.UnixNano()
	}
	out.FirstSeenUnixNano = st.firstSeen
	out.WaitWarning = out.Waiting > 0 && oldest >= w.warnAfter
	if w.workers > 0 && st.firstSeen != 0 && !st.poolOff {
		if out.RequestsInFlight > w.workers && oldest < w.warnAfter {
			if st.overSince.IsZero() {
				st.overSince = now
			}
			st.overCount++
		} else {
			st.overSince, st.overCount = time.Time{}, 0
		}
		if st.overCount >= poolOffCensuses && now.Sub(st.overSince) >= poolOffWaits*w.warnAfter {
			st.poolOff = true
			if w.notify != nil {
				w.notify(fmt.Sprintf("pool rule off: port %d held %d requests, more than its %d workers, with its self-calls answered within %v: its workers are not held inside self-calls (async?)",
					port, out.RequestsInFlight, w.workers, w.warnAfter))
			}
		}
	}
	out.PoolRuleOff = st.poolOff
	out.PoolWarning = w.workers > 0 && st.firstSeen != 0 && !st.poolOff && float64(out.RequestsInFlightPeak) >= w.warnFraction*float64(w.workers)
	out.Warning = out.WaitWarning || out.PoolWarning
	if !st.told && len(out.Connections) > 0 && w.notify != nil {
		st.told = true
		var pids []int
		seen := map[int]bool{}
		for _, pid := range st.owners {
			if pid != 0 && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
		slices.Sort(pids)
		line := firstSeenLine(port, pids, out)
		if w.upstream != 0 {
			line += fmt.Sprintf(" (through the proxy on it, to port %d)", w.upstream)
		}
		w.notify(line)
	}
	return out, nil
}

// peakInFlight returns the most requests the port's server-side sockets held at once in the
// last `since`, from each socket's last request and answer: a request is in flight from its
// last data received until its last data sent after it, or until now when it is unanswered
// (sockets.Socket.Unanswered). The kernel keeps those times in jiffies: two intervals that
// touch within one are not counted as overlapping (an answer and the next request in the same
// jiffy). A kept-alive connection shows only its latest request, so this is a lower bound;
// it still sees the burst between two censuses that a snapshot misses.
func peakInFlight(list []sockets.Socket, port uint16, since time.Duration) int {
	type edge struct {
		ago   time.Duration // how long before the census
		delta int
	}
	var edges []edge
	for _, s := range list {
		if s.Local.Port() != port || s.State == sockets.Listen || !s.Info || s.DataSegsIn == 0 {
			continue
		}
		var end time.Duration // 0: still in flight now
		if !s.Unanswered() {
			if s.DataSegsOut == 0 || s.LastDataSent > s.LastDataRecv {
				continue // answered before its last data came in: not a request (a FIN, a probe)
			}
			end = s.LastDataSent
		}
		if end >= since {
			continue // answered before the window
		}
		edges = append(edges, edge{min(s.LastDataRecv, since), +1}, edge{end, -1})
	}
	// From the oldest moment to now; at one moment an answer leaves before a request comes.
	slices.SortFunc(edges, func(a, b edge) int {
		if a.ago != b.ago {
			return cmp.Compare(b.ago, a.ago)
		}
		return a.delta - b.delta
	})
	n, peak := 0, 0
	for _, e := range edges {
		n += e.delta
		peak = max(peak, n)
	}
	return peak
}

// firstSeenLine is the line the agent prints when it first sees a self-call, e.g.
// "self-call seen: process 4242 (java) calls its own port 8080: 3 connections, 2 waiting".
func firstSeenLine(port uint16, pids []int, s *SelfCalls) string {
	names := make([]string, 0, len(pids))
	for _, pid := range pids {
		names = append(names, strconv.Itoa(pid)+" ("+comm(pid)+")")
	}
	who := "process " + strings.Join(names, ", ")
	if len(pids) > 1 {
		who = "processes " + strings.Join(names, ", ")
	}
	conns := "connections"
	if s.Total() == 1 {
		conns = "connection"
	}
	return fmt.Sprintf("self-call seen: %s calls its own port %d: %d %s, %d waiting", who, port, s.Total(), conns, s.Waiting)
}

// upstreamHolders finds the processes that hold port's listening socket.
func upstreamHolders(port uint16) ([]int, error) {
	inodes, err := listenInodes(port)
	if err != nil {
		return nil, err
	}
	if len(inodes) == 0 {
		return nil, fmt.Errorf("nothing listens on upstream port %d", port)
	}
	holders, err := findHolders(inodes)
	if err != nil {
		return nil, fmt.Errorf("upstream port %d: %w", port, err)
	}
	return holders, nil
}

// comm returns a process's command name, "?" when it cannot be read.
func comm(pid int) string {
	b, err := readSmall(procRoot + "/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
