package model

import "time"

// Figures measured on real loopback sockets, with sim's own connector, self-call client, static
// handler and app (calibrate_test.go), on this project's 2-core machine kind. They are the only
// timings the model does not take from the config: everything else (work times, timeouts,
// pacing) is the config's and the profile's.
//
// Measured 2026-12-01 with
//
//	go test -run '^$' -bench 'Loopback' -benchtime 2000x ./simulator/model/
//
// which printed
//
//	BenchmarkLoopbackSelfCall-2      2000   79802 ns/op   79.80 roundtrip_us   11.98 service_us
//	BenchmarkLoopbackPage/work=0s-2  2000  152942 ns/op   81.01 overhead_us  152.9 page_us   71.93 selfcall_us
//	BenchmarkLoopbackPage/work=20ms  2000  21.5 ms/op    761.0 overhead_us  21500 page_us  739.1 selfcall_us
//
// A page that slept through a work-time timer pays more for the same self-call than one in a
// tight loop (739 µs against 72 µs: the goroutines, and the core, went idle meanwhile), and
// pages in `sim run` do sleep: the constants below are the work=20ms figures. They agree with
// what the socket engine records under load: `sim run --topology self --profile quick`
// (16 workers × 200 ms) reported selfcall_mean_ms 0.365 and a median page latency of 201.36 ms
// below the hang, i.e. 1.36 ms beyond the work time, against 0.739 + 0.761 = 1.50 ms here.
const (
	// StaticServiceTime is how long the static file's handler holds a worker: the inner
	// request's share of the self topology's worker pool (service_us above).
	StaticServiceTime = 12 * time.Microsecond
	// SelfCallTime is a self-call's round trip as the page sees it, lease to body read, when no
	// lease or worker has to be waited for (selfcall_us above, work=20ms). The inner request
	// holds a worker for StaticServiceTime in its middle; the rest is the client, the kernel and
	// the server's reading and writing, split evenly between the way there and back.
	SelfCallTime = 739 * time.Microsecond
	// PageOverhead is what a page holds its worker for beyond its work time and its self-call:
	// the work-time timer's lateness, routing, rendering and writing the answer (overhead_us
	// above, work=20ms).
	PageOverhead = 761 * time.Microsecond
	// BaseFDs is the descriptors `sim serve` holds with no connection open: binary, stdio,
	// listeners, epoll, the admin connection the runner keeps. Measured from the socket engine's
	// records: fds_open minus open connections and pooled self-call sockets, 12 in every window
	// of `sim run --topology self --profile quick` before the hang (e.g. 35 fds with 21
	// connections and 2 pooled sockets at 11.75 s).
	BaseFDs = 12
	// InProcessReadTime is what the inproc topology's page spends getting its fragment in
	// process instead of a self-call: simulator/app's static.Page() and the cut of its section.
	// Measured 2026-12-01 with
	//
	//	go test -run '^$' -bench 'InProcessRead' -count 3 ./simulator/model/
	//
	// 187-211 ns/op. The whole inproc page agrees: BenchmarkLoopbackPage/inproc,work=20ms
	// printed overhead_us 676-773 (three runs on a loaded machine), PageOverhead (761 µs) and
	// this within the runs' spread.
	InProcessReadTime = 200 * time.Nanosecond
)

// Kernel and runtime constants the model follows, from Linux and Go defaults.
const (
	// finTimeout is Linux's net.ipv4.tcp_fin_timeout default: how long an orphaned FIN_WAIT2
	// socket (a client that closed first) lives.
	finTimeout = 60.0
	// timeWait is the TIME_WAIT length on Linux (TCP_TIMEWAIT_LEN, 60 s).
	timeWait = 60.0
	// synRTO is Linux's initial SYN retransmission timeout (TCP_TIMEOUT_INIT, 1 s); each retry
	// doubles it. A SYN is dropped when the listener's accept queue is full.
	synRTO = 1.0
	// keepAliveIdle and keepAliveInterval are the TCP keepalive probes of an accepted
	// connection when tcp_keepalive is on (Go's defaults, as simulator/connector sets them).
	keepAliveIdle     = 15.0
	keepAliveInterval = 15.0
	// acceptBackoffInitial and acceptBackoffMax are the acceptor's back-off on EMFILE, as in
	// simulator/connector (Tomcat's AbstractEndpoint.handleExceptionWithDelay).
	acceptBackoffInitial = 0.050
	acceptBackoffMax     = 1.6
)

// The front proxy's timers that are not keys: nginx 1.22's defaults, as simulator/proxy sets
// them (its tests hold the two to each other).
const (
	// ProxyConnectTimeout is nginx's fastcgi_connect_timeout / proxy_connect_timeout default.
	ProxyConnectTimeout = 60 * time.Second
	// ProxyIdleTimeout is Debian's nginx.conf keepalive_timeout.
	ProxyIdleTimeout = 65 * time.Second
)

// spawnInterval is a dynamic pool's maintenance period: PHP-FPM's
// FPM_IDLE_SERVER_MAINTENANCE_HEARTBEAT, as simulator/connector.SpawnInterval.
const spawnInterval = 1.0
