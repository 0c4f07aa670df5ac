// Package serverconf is the one schema of the server's configuration (`sim serve`): every key
// once, with its name, type, default, validation and help (Keys). A key is one entry in Keys
// plus its typed field in Config; nothing else names it. From them come `sim serve`'s flags,
// its SIM_* variables and its --config file (cmd/sim), the child's command line
// (Config.Flags), a profile's `server:` section (Overrides, which keeps the keys a profile sets
// by name, parsed and checked for loadprofiles) and the run's config (Overrides.Apply onto
// Defaults, in simulator/runner).
//
// It is a package of its own, under internal, because both sides of the dependency rule need
// it: loadprofiles validates a profile's server section when it parses the profile and may not
// import simulator, and simulator/app runs the config (app.Config is this Config).
package serverconf

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/simdev/sim/internal/hostguard"
	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/runtimes"
	"github.com/simdev/sim/internal/topology"
)

// The two topologies the schema's own checks name (every topology is in internal/topology).
const (
	// Self serves the static file from the app's own bounded connector: the incident.
	Self = topology.Self
	// Split serves it from a separate static server process: the fix.
	Split = topology.Split
)

// Connector modes, as simulator/connector names them.
const (
	// NIO accepts every connection up to max_connections and queues requests for a worker.
	NIO = "nio"
	// BIO gives each connection a worker: max_connections is max_threads.
	BIO = "bio"
	// Reactor accepts only while a worker is free and nobody waits for one, as BIO (Puma's
	// wait_until_not_full), but a worker serves one request, not a connection: between requests
	// a kept-alive connection waits in a reactor holding no worker, and its next request queues
	// for one (Puma 5's reactor and thread pool).
	Reactor = "reactor"
)

// Static servers of the split topology, as simulator/static names them.
const (
	// Embedded is sim's own static server, started as a child process.
	Embedded = "embedded"
	// Nginx is Debian's nginx with a generated config.
	Nginx = "nginx"
)

// Work time distributions (work_time_dist).
const (
	// WorkFixed: every /page works exactly work_time.
	WorkFixed = "fixed"
	// WorkExponential: work times are exponential with mean work_time; memoryless, the
	// textbook service time of queueing models (M/M/c).
	WorkExponential = "exponential"
	// WorkLognormal: work times are lognormal with median work_time and 99th percentile
	// work_time_p99, the long right tail of real request latencies.
	WorkLognormal = "lognormal"
)

// Defaults, named after and equal to Tomcat 8's NIO connector and Apache HttpClient 4.x's
// pooling connection manager, which the incident ran on.
const (
	DefaultMaxThreads        = 200              // Tomcat maxThreads
	DefaultMaxConnections    = 10000            // Tomcat 8 NIO maxConnections
	DefaultAcceptCount       = 100              // Tomcat acceptCount
	DefaultConnectionTimeout = 20 * time.Second // Tomcat connectionTimeout (server.xml default)
	DefaultWorkTime          = 100 * time.Millisecond
	DefaultMaxPerRoute       = 2    // HttpClient DefaultMaxPerRoute
	DefaultMaxTotal          = 20   // HttpClient MaxTotal
	DefaultNoFile            = 4096 // the incident's ulimit -n: it hung at the 4,023rd socket
	// DefaultProxyReadTimeout is nginx's fastcgi_read_timeout and proxy_read_timeout default.
	DefaultProxyReadTimeout = 60 * time.Second
	// DefaultPoolMinSpare and DefaultPoolMaxSpare are Debian's www.conf pm.min_spare_servers
	// and pm.max_spare_servers.
	DefaultPoolMinSpare = 1
	DefaultPoolMaxSpare = 3
	// DefaultWorkTimeSeed seeds the work time draws when no seed is given: fixed rather than
	// taken from the clock, so that two runs of the same config draw the same work times.
	DefaultWorkTimeSeed = 1
)

// MinNoFile is the lowest nofile other than 0: it leaves room for the process's own files
// (binary, stdio, listeners, admin port) and a few dozen sockets.
const MinNoFile = 64

// MaxWorkDraw is the ceiling of a single work time draw: a lognormal tail can draw minutes, and
// a worker pinned that long would read as a hang that the config did not ask for.
const MaxWorkDraw = 60 * time.Second

// Limits that keep a typo from exhausting the machine.
const (
	maxThreadsLimit     = 10000
	maxConnectionsLimit = 1 << 20
	maxAcceptCount      = 65535 // the largest listen() backlog Linux takes (somaxconn's range)
	maxWorkTime         = 10 * time.Minute
	maxSelfCallRetries  = 10
	maxNoFile           = 1 << 20 // Linux's default fs.nr_open
)

// defaultListenAddr is every listener's default: loopback, and a free port picked by the kernel.
const defaultListenAddr = "127.0.0.1:0"

// unsetKeepAlive is KeepAliveTimeout's default, "not set": Normalize makes it
// connection_timeout, as Tomcat does. A user's negative value is refused when it is read, not
// taken for unset (--keep-alive-timeout=-5s used to run with the connection timeout).
const unsetKeepAlive time.Duration = -1

// Config is the server's whole configuration; Keys describes each field. The JSON names are
// the keys' names: config.json holds a Config.
type Config struct {
	Topology string `json:"topology"`
	// Runtime is the server runtime imitated (internal/runtimes): its Defaults apply to the keys
	// left at their schema default, after the topology's.
	Runtime    string `json:"runtime"`
	Addr       string `json:"addr"`
	AdminAddr  string `json:"admin_addr"`
	StaticAddr string `json:"static_addr"`
	// AllowNonLoopback lifts the loopback-only check on the listen addresses, for containers,
	// whose published ports reach only addresses other than the container's loopback.
	AllowNonLoopback bool `json:"allow_non_loopback"`

	Connector         string        `json:"connector"`
	MaxThreads        int           `json:"max_threads"`
	MaxConnections    int           `json:"max_connections"`
	AcceptCount       int           `json:"accept_count"`
	ConnectionTimeout time.Duration `json:"connection_timeout"`
	KeepAliveTimeout  time.Duration `json:"keep_alive_timeout"`
	HonorClientClose  bool          `json:"honor_client_close"`
	// TCPKeepAlive turns SO_KEEPALIVE on for the app's connections, accepted and self-call (15 s
	// idle, then 15 s apart: Go's defaults). Off by default, as Tomcat's socket.soKeepAlive and
	// HttpClient's SocketConfig.soKeepAlive are unset by default: with it on, a long hang's
	// CLOSE_WAIT sockets are reaped by keepalive about 75 s after their clients left (the
	// client's FIN_WAIT2 timeout of 60 s, then the next probe), and the count falls while the fds
	// stay open; without it, they stay in CLOSE_WAIT up to the fd limit, as in the incident.
	TCPKeepAlive bool `json:"tcp_keepalive"`
	// KeepAlive keeps a connection open after its response (the default, Tomcat's). False
	// answers Connection: close and closes the connection after each response, as gunicorn's
	// sync worker does: every request of the load client, and every self-call, is a new
	// connection, which with connector bio waits in the listen backlog.
	KeepAlive bool          `json:"keep_alive"`
	WorkTime  time.Duration `json:"work_time"`
	// WorkTimeDist is how each /page draws its work time: WorkFixed (always WorkTime),
	// WorkExponential (mean WorkTime) or WorkLognormal (median WorkTime, p99 WorkTimeP99).
	WorkTimeDist string        `json:"work_time_dist"`
	WorkTimeP99  time.Duration `json:"work_time_p99"`
	// WorkTimeSeed seeds the draws: a server started with the same seed draws the same
	// sequence of work times, in the order the requests draw them.
	WorkTimeSeed int `json:"work_time_seed"`

	// SelfCallPool sends self-calls through HttpClient's pool (the default). False dials a new
	// connection per self-call and closes it after the answer, as Python's requests without a
	// Session, curl and Ruby's Net::HTTP do: no lease to wait for, and every self-call joins the
	// tail of the accept queue.
	SelfCallPool             bool          `json:"selfcall_pool"`
	MaxPerRoute              int           `json:"max_per_route"`
	MaxTotal                 int           `json:"max_total"`
	ConnectionRequestTimeout time.Duration `json:"connection_request_timeout"`
	ConnectTimeout           time.Duration `json:"connect_timeout"`
	SocketTimeout            time.Duration `json:"socket_timeout"`
	// SelfCallRetries and ConnectorThreads are Puma's and Jetty's mechanics (issue 17).
	// SelfCallRetries is how many times a self-call that timed out reading or was reset is
	// sent again on a new connection (Net::HTTP's max_retries); ConnectorThreads how many of
	// max_threads the connector keeps for itself (Jetty's acceptor and selector).
	SelfCallRetries  int `json:"selfcall_retries"`
	ConnectorThreads int `json:"connector_threads"`

	// The watchdog: WorkerTimeout kills a worker that has spent this long in one request, as
	// gunicorn's arbiter does (0 = none, Tomcat's behaviour); its replacement takes requests
	// WorkerBoot after the kill.
	WorkerTimeout time.Duration `json:"worker_timeout"`
	WorkerBoot    time.Duration `json:"worker_boot"`

	NoFile int `json:"nofile"`

	// MaxQueueSize bounds the worker queue (topology bounded-queue); 0 = unbounded.
	MaxQueueSize int `json:"max_queue_size"`
	// Admission is what the admission-limit topology does with a page over its limit
	// (topology.AdmitWait, AdmitReject, AdmitQueue); Reserve is how many workers it keeps from
	// pages.
	Admission string `json:"admission"`
	Reserve   int    `json:"reserve"`
	// BulkheadThreads is the bulkhead topology's static connector's worker pool.
	BulkheadThreads int `json:"bulkhead_threads"`

	Static StaticConfig `json:"static"`

	// The front proxy (nginx in front of PHP-FPM). FrontProxy puts a reverse proxy on Addr in
	// front of the worker pool, whose connector then listens on PoolAddr; ProxyReadTimeout is
	// how long the proxy waits for the pool's answer (0: for ever).
	FrontProxy       bool          `json:"front_proxy"`
	ProxyReadTimeout time.Duration `json:"proxy_read_timeout"`
	PoolAddr         string        `json:"pool_addr"`
	// A dynamic pool (PHP-FPM's pm = dynamic): PoolStartWorkers > 0 (bio) starts the pool with
	// that many workers, grown every second while fewer than PoolMinSpare are idle and shrunk
	// by one while more than PoolMaxSpare are.
	PoolStartWorkers int `json:"pool_start_workers"`
	PoolMinSpare     int `json:"pool_min_spare"`
	PoolMaxSpare     int `json:"pool_max_spare"`
}

// StaticConfig selects the server of the static file in the split topology.
type StaticConfig struct {
	Server string `json:"server"` // Embedded or Nginx
	// Dir is nginx's folder for its config, pid, logs and temp files; empty = a fresh temp dir
	// that the caller removes.
	Dir string `json:"dir"`
	// URL, if set, is an external static server's base URL: none is started, the self-call
	// goes there (docker-compose's nginx service).
	URL string `json:"url"`
}

// Defaults returns the config with every key at its default (Key.Default).
func Defaults() Config {
	var c Config
	for _, k := range Keys() {
		k.set(&c, k.def)
	}
	return c
}

// Normalize resolves the defaults that depend on other keys, and the defaults the topology
// gives its keys (topology.Topology.Defaults). It changes only values left at their defaults,
// so that Validate still sees a value that contradicts another key.
func (c *Config) Normalize() {
	// The topology's first: a fix (self-timeout's 1 s timeouts) wins over the runtime's own
	// default (Net::HTTP's 60 s).
	if tp, ok := topology.Lookup(c.Topology); ok {
		c.applyDefaults(tp.Defaults)
	}
	if rt, ok := runtimes.Lookup(c.Runtime); ok {
		c.applyDefaults(rt.Defaults)
	}
	if c.KeepAliveTimeout == unsetKeepAlive {
		c.KeepAliveTimeout = c.ConnectionTimeout
	}
	if c.Connector == BIO && c.MaxConnections == DefaultMaxConnections {
		c.MaxConnections = c.MaxThreads
	}
}

// applyDefaults sets each key of defaults (name → text as a flag takes it) that c leaves at its
// schema default.
func (c *Config) applyDefaults(defaults map[string]string) {
	for name, text := range defaults {
		k, ok := LookupKey(name)
		if !ok || k.get(c) != k.def {
			continue
		}
		if v, err := k.ParseText(text); err == nil {
			k.set(c, v)
		}
	}
}

// Validate checks every key, alone (Key.Check) and against the others; the error is an
// *invalid.Error naming the first bad one.
func (c *Config) Validate() error {
	for _, k := range Keys() {
		// A default is valid by construction, and keep_alive_timeout's is the "unset" mark
		// that Normalize resolves and that no user's value can reach (Key.Check refuses it).
		if v := k.get(c); v != k.def {
			if err := k.Check(v); err != nil {
				return err
			}
		}
	}
	checks := []struct {
		bad     bool
		field   string
		value   any
		allowed string
	}{
		{c.Connector == BIO && c.MaxConnections != c.MaxThreads, "max_connections", c.MaxConnections,
			fmt.Sprintf("unset with connector bio, which serves a connection per worker: max_threads (%d)", c.MaxThreads)},
		{c.WorkTimeDist != WorkFixed && c.WorkTime <= 0, "work_time", c.WorkTime, "a duration > 0 with work_time_dist " + c.WorkTimeDist},
		{c.WorkTimeDist == WorkExponential && ExponentialP99(c.WorkTime) > MaxWorkDraw, "work_time", c.WorkTime,
			fmt.Sprintf("a mean > 0 and <= %v with work_time_dist exponential, so that its p99 (mean x ln 100) stays under the %v cap on a draw", maxExponentialMean().Round(time.Millisecond), MaxWorkDraw)},
		{c.WorkTimeDist == WorkLognormal && (c.WorkTimeP99 <= c.WorkTime || c.WorkTimeP99 > MaxWorkDraw), "work_time_p99", c.WorkTimeP99,
			fmt.Sprintf("a duration > work_time (%v) and <= %v with work_time_dist lognormal", c.WorkTime, MaxWorkDraw)},
		{c.WorkTimeDist != WorkLognormal && c.WorkTimeP99 != 0, "work_time_p99", c.WorkTimeP99, "0 unless work_time_dist is lognormal (exponential: p99 = work_time x ln 100)"},
		{c.WorkTimeDist == WorkFixed && c.WorkTimeSeed != DefaultWorkTimeSeed, "work_time_seed", c.WorkTimeSeed,
			fmt.Sprintf("the default (%d) unless work_time_dist is exponential or lognormal: fixed work times draw nothing", DefaultWorkTimeSeed)},
		{!runtimeAllows(c.Runtime, c.Topology), "topology", c.Topology,
			fmt.Sprintf("one of %s with runtime %s", strings.Join(runtimeTopologies(c.Runtime), ", "), c.Runtime)},
		{c.Static.URL != "" && c.Topology != Split, "static.url", c.Static.URL, "empty unless topology is split"},
		{c.Reserve >= c.MaxThreads && c.Topology == topology.AdmissionLimit, "reserve", c.Reserve,
			fmt.Sprintf("1 to max_threads - 1 (%d) with topology admission-limit: at least one page must be admitted", c.MaxThreads-1)},
		{c.Connector != NIO && (topology.Must(c.Topology).Mechanics.Async || topology.Must(c.Topology).Mechanics.QueueLimit), "connector", c.Connector,
			"nio with topology " + c.Topology + ": " + c.Connector + " has no worker queue to bound or to park a page in"},
		{c.Connector == Reactor && c.Topology == topology.AdmissionLimit && c.Admission == topology.AdmitQueue, "admission", c.Admission,
			"wait or reject with connector reactor: the gate in front of the worker queue is nio's"},
		// Jetty's QueuedThreadPool refuses to start a connector that would leave it no thread
		// ("Insufficient configured threads: required=2 < max=2", measured on Jetty 9.4.57).
		{c.ConnectorThreads >= c.MaxThreads, "connector_threads", c.ConnectorThreads,
			fmt.Sprintf("0 to max_threads - 1 (%d): the connector must leave at least one of max_threads to serve requests (Jetty: \"Insufficient configured threads\")", c.MaxThreads-1)},
		{c.MaxQueueSize == 0 && c.Topology == topology.BoundedQueue, "max_queue_size", c.MaxQueueSize,
			"> 0 with topology bounded-queue (0 is an unbounded queue: topology self)"},
		// The static server's folder and address mean something only when split starts one:
		// given otherwise, they would be ignored without a word. static.server is not refused
		// with self: a profile's server section serves every topology of a comparison (the
		// incident profile names nginx for its split run), and the runner passes every key on.
		{c.Static.Dir != "" && (c.Topology != Split || c.Static.URL != "" || c.Static.Server != Nginx), "static.dir", c.Static.Dir,
			"empty unless topology is split with static.server nginx (it is nginx's folder)"},
		{c.StaticAddr != defaultListenAddr && (!topology.Must(c.Topology).UsesStaticAddr() || c.Static.URL != ""), "static_addr", c.StaticAddr,
			"the default " + defaultListenAddr + " unless topology is split without static.url, or bulkhead: only then is a static listener started"},
		{c.PoolAddr != defaultListenAddr && !c.FrontProxy, "pool_addr", c.PoolAddr,
			"the default " + defaultListenAddr + " unless front_proxy is true: only then does the pool listen apart from addr"},
		{c.PoolStartWorkers > 0 && c.Connector != BIO, "pool_start_workers", c.PoolStartWorkers,
			"0 unless connector is bio (a dynamic pool of processes each accepting when free, as PHP-FPM's)"},
		{c.PoolStartWorkers > c.MaxThreads, "pool_start_workers", c.PoolStartWorkers, fmt.Sprintf("0 to max_threads (%d)", c.MaxThreads)},
		{c.PoolStartWorkers == 0 && (c.PoolMinSpare != DefaultPoolMinSpare || c.PoolMaxSpare != DefaultPoolMaxSpare), "pool_min_spare", c.PoolMinSpare,
			"the defaults (pool_min_spare 1, pool_max_spare 3) unless pool_start_workers > 0: a static pool has no spares to keep"},
		{c.PoolMinSpare > c.PoolMaxSpare, "pool_max_spare", c.PoolMaxSpare, fmt.Sprintf("at least pool_min_spare (%d)", c.PoolMinSpare)},
		{c.ProxyReadTimeout != DefaultProxyReadTimeout && !c.FrontProxy, "proxy_read_timeout", c.ProxyReadTimeout,
			fmt.Sprintf("the default %v unless front_proxy is true: there is no proxy to time out", DefaultProxyReadTimeout)},
	}
	for _, ch := range checks {
		if ch.bad {
			return invalid.Field(ch.field, ch.value, ch.allowed)
		}
	}
	for _, a := range []struct{ field, addr string }{{"addr", c.Addr}, {"admin_addr", c.AdminAddr}, {"static_addr", c.StaticAddr}, {"pool_addr", c.PoolAddr}} {
		if c.AllowNonLoopback {
			if err := checkHostPort(a.addr); err != nil {
				return invalid.Field(a.field, a.addr, "host:port, port 0 to 65535")
			}
			continue
		}
		if err := checkLoopback(a.addr); err != nil {
			return invalid.Field(a.field, a.addr, "host:port on loopback (127.0.0.0/8, ::1 or localhost), port 0 to 65535; other hosts only with allow_non_loopback")
		}
	}
	return nil
}

// Flags renders c as `sim serve` flags, every key explicit, so that a child started with them
// runs exactly this config whatever SIM_* variables its environment holds.
func (c Config) Flags() []string {
	keys := Keys()
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, "--"+k.FlagName()+"="+k.Format(k.get(&c)))
	}
	return out
}

// ExponentialP99 is the 99th percentile of an exponential distribution of mean m.
func ExponentialP99(m time.Duration) time.Duration {
	return time.Duration(float64(m) * math.Log(100))
}

// maxExponentialMean is the largest exponential mean whose p99 (mean × ln 100) stays within
// MaxWorkDraw.
func maxExponentialMean() time.Duration {
	return time.Duration(float64(MaxWorkDraw) / math.Log(100))
}

// checkHostPort accepts host:port with a valid port, whatever the host.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	_, err = net.LookupPort("tcp", port)
	return err
}

// checkLoopback accepts host:port whose host is a loopback address or "localhost": sim is a
// load-testing target and never listens where other machines could reach it (unless
// allow_non_loopback says it runs in a container, reachable only through published ports).
func checkLoopback(addr string) error {
	if err := checkHostPort(addr); err != nil {
		return err
	}
	if !hostguard.LoopbackAddr(addr) {
		return fmt.Errorf("%q does not bind loopback only", addr)
	}
	return nil
}

// maxPort is the highest TCP port.
const maxPort = 65535

// checkBaseURL accepts an absolute http(s) URL with a host, to which the page path is appended.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an http(s) base URL", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > maxPort {
			return fmt.Errorf("port %s of %q is not 1 to %d", p, raw, maxPort)
		}
	}
	return nil
}

// Hang is what decides whether c's server can hang: its topology's mechanics and c's keys that
// change them (topology.Server), with c normalized first: a topology's defaults (self-timeout's
// timeouts) count.
func (c Config) Hang() topology.Server {
	c.Normalize()
	tp, _ := topology.Lookup(c.Topology)
	return topology.Server{
		Mechanics:     tp.Mechanics,
		Workers:       c.Workers(),
		Admission:     c.Admission,
		Reserve:       c.Reserve,
		Leases:        min(c.MaxPerRoute, c.MaxTotal),
		Unpooled:      !c.SelfCallPool,
		LeaseTimeout:  c.ConnectionRequestTimeout,
		SocketTimeout: c.SocketTimeout,
		Retries:       c.SelfCallRetries,
		WorkerTimeout: c.WorkerTimeout,
		WorkerBoot:    c.WorkerBoot,
		ProxyTimeout:  c.proxyTimeout(),
	}
}

// Workers is the worker pool that serves requests: max_threads less the threads the connector
// keeps for itself (connector_threads).
func (c Config) Workers() int { return c.MaxThreads - c.ConnectorThreads }

// proxyTimeout is the front proxy's read timeout when there is a proxy, else 0.
func (c Config) proxyTimeout() time.Duration {
	if !c.FrontProxy {
		return 0
	}
	return c.ProxyReadTimeout
}

// CanHang says whether c's server has an absorbing hang state (topology.CanHang).
func (c Config) CanHang() bool { return topology.CanHang(c.Hang()) }

// HangingTopologies names, for messages, the topologies that can hang with every other key at
// its default (and the topology's own defaults): "self, bounded-queue, admission-limit with
// admission wait". A topology with an admission limit is named with the modes that hang.
func HangingTopologies() string {
	var names []string
	for _, tp := range topology.All() {
		c := Defaults()
		c.Topology = tp.Name
		c.Normalize()
		if !tp.Mechanics.Admission {
			if c.CanHang() {
				names = append(names, tp.Name)
			}
			continue
		}
		var modes []string
		for _, mode := range topology.AdmissionModes() {
			if c.Admission = mode; c.CanHang() {
				modes = append(modes, mode)
			}
		}
		if len(modes) > 0 {
			names = append(names, tp.Name+" with admission "+strings.Join(modes, " or "))
		}
	}
	return strings.Join(names, ", ")
}

// NoHang says, for a message, that c's topology cannot hang: "split" when it never can with
// default keys, or "self with these keys (the self-call has socket_timeout 1s: ...)" when c's
// keys are what rule the hang out; "" when c can hang.
func (c Config) NoHang() string {
	why := topology.WhyNoHang(c.Hang())
	if why == "" {
		return ""
	}
	// The same topology (and admission mode) with every other key at its default: if it
	// cannot hang either, the topology itself is the reason, as HangingTopologies says.
	d := Defaults()
	d.Topology, d.Admission = c.Topology, c.Admission
	d.Normalize()
	if !d.CanHang() {
		return c.Topology
	}
	return c.Topology + " with these keys (" + why + ")"
}

// runtimeAllows says whether the runtime named rt runs topology t (an unknown runtime is the
// runtime key's own error).
func runtimeAllows(rt, t string) bool {
	r, ok := runtimes.Lookup(rt)
	return !ok || r.Allows(t)
}

func runtimeTopologies(rt string) []string {
	r, _ := runtimes.Lookup(rt)
	return r.TopologyNames()
}
