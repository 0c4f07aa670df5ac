package app

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/simulator/connector"
	"github.com/simdev/sim/simulator/static"
)

// Topologies.
const (
	// Self serves the static file from the app's own bounded connector: the incident.
	Self = "self"
	// Split serves it from a separate static server process: the fix.
	Split = "split"
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
)

// Limits that keep a typo from exhausting the machine.
const (
	maxThreadsLimit     = 10000
	maxConnectionsLimit = 1 << 20
	maxAcceptCount      = 65535
	maxWorkTime         = 10 * time.Minute
	minNoFile           = 64
	maxNoFile           = 1 << 20
)

// Config is the server's whole configuration. Keys (see Keys) are named after Tomcat's and
// HttpClient's settings.
type Config struct {
	Topology   string `json:"topology"`
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
	TCPKeepAlive bool          `json:"tcp_keepalive"`
	WorkTime     time.Duration `json:"work_time"`
	// WorkTimeDist is how each /page draws its work time: WorkFixed (always WorkTime),
	// WorkExponential (mean WorkTime) or WorkLognormal (median WorkTime, p99 WorkTimeP99).
	WorkTimeDist string        `json:"work_time_dist"`
	WorkTimeP99  time.Duration `json:"work_time_p99"`
	// WorkTimeSeed seeds the draws: a server started with the same seed draws the same
	// sequence of work times, in the order the requests draw them.
	WorkTimeSeed int `json:"work_time_seed"`

	MaxPerRoute              int           `json:"max_per_route"`
	MaxTotal                 int           `json:"max_total"`
	ConnectionRequestTimeout time.Duration `json:"connection_request_timeout"`
	ConnectTimeout           time.Duration `json:"connect_timeout"`
	SocketTimeout            time.Duration `json:"socket_timeout"`

	NoFile int `json:"nofile"`

	Static StaticConfig `json:"static"`
}

// StaticConfig selects the server of the static file in the split topology.
type StaticConfig struct {
	Server string `json:"server"` // static.Embedded or static.Nginx
	// Dir is nginx's folder for its config, pid, logs and temp files; empty = a fresh temp dir
	// that the caller removes.
	Dir string `json:"dir"`
	// URL, if set, is an external static server's base URL: none is started, the self-call
	// goes there (docker-compose's nginx service).
	URL string `json:"url"`
}

// Key describes one config key: its name in YAML (dots for nesting), its help, and where it
// lives in Config. Flags are the name in kebab case (static.server → --static-server), environment
// variables SIM_ and the name in upper snake case (SIM_STATIC_SERVER).
type Key struct {
	Name  string
	Usage string
	field func(*Config) any
}

// Ptr returns a pointer to the key's field in c: *string, *int, *bool or *time.Duration.
func (k Key) Ptr(c *Config) any { return k.field(c) }

// Default returns the key's default value.
func (k Key) Default() any {
	d := Defaults()
	switch p := k.field(&d).(type) {
	case *string:
		return *p
	case *int:
		return *p
	case *bool:
		return *p
	case *time.Duration:
		return *p
	}
	return nil
}

// Keys lists every config key in the order help shows them.
func Keys() []Key {
	return []Key{
		{"topology", "self (static file from the app's own connector) or split (from a separate static server)", func(c *Config) any { return &c.Topology }},
		{"addr", "app listener host:port (loopback unless allow_non_loopback; port 0 picks a free one)", func(c *Config) any { return &c.Addr }},
		{"admin_addr", "admin listener (/metrics, /stats, /healthz, /debug/pprof) host:port", func(c *Config) any { return &c.AdminAddr }},
		{"static_addr", "split: static server host:port", func(c *Config) any { return &c.StaticAddr }},
		{"allow_non_loopback", "listen on non-loopback addresses (containers) and let the admin listener answer any Host header; never on a shared network", func(c *Config) any { return &c.AllowNonLoopback }},
		{"connector", "nio (accept every connection, queue requests) or bio (a worker per connection)", func(c *Config) any { return &c.Connector }},
		{"max_threads", "worker pool size (Tomcat maxThreads)", func(c *Config) any { return &c.MaxThreads }},
		{"max_connections", "open connections before the acceptor stops (Tomcat maxConnections; bio: max_threads)", func(c *Config) any { return &c.MaxConnections }},
		{"accept_count", "listen() backlog (Tomcat acceptCount)", func(c *Config) any { return &c.AcceptCount }},
		{"connection_timeout", "wait for a request after accept; 0 = none (Tomcat connectionTimeout)", func(c *Config) any { return &c.ConnectionTimeout }},
		{"keep_alive_timeout", "idle keep-alive lifetime; unset = connection_timeout (Tomcat keepAliveTimeout)", func(c *Config) any { return &c.KeepAliveTimeout }},
		{"honor_client_close", "drop a queued request when its client closes (Tomcat does not)", func(c *Config) any { return &c.HonorClientClose }},
		{"tcp_keepalive", "SO_KEEPALIVE on the app's connections, probes after 15s idle (Tomcat socket.soKeepAlive, unset by default: off); on, a long hang's CLOSE_WAIT sockets are reaped ~75s after their clients left", func(c *Config) any { return &c.TCPKeepAlive }},
		{"work_time", "business logic time of GET /page before its self-call; with work_time_dist, the mean (exponential) or median (lognormal)", func(c *Config) any { return &c.WorkTime }},
		{"work_time_dist", "work time distribution: fixed (always work_time), exponential (mean work_time) or lognormal (median work_time, p99 work_time_p99); draws are capped at min(10 x p99, 60s)", func(c *Config) any { return &c.WorkTimeDist }},
		{"work_time_p99", "lognormal: the 99th percentile of the work time; > work_time, <= 60s", func(c *Config) any { return &c.WorkTimeP99 }},
		{"work_time_seed", "seed of the work time draws (>= 0): the same seed draws the same sequence", func(c *Config) any { return &c.WorkTimeSeed }},
		{"max_per_route", "self-call pool: connections per host (HttpClient DefaultMaxPerRoute)", func(c *Config) any { return &c.MaxPerRoute }},
		{"max_total", "self-call pool: connections in all (HttpClient MaxTotal)", func(c *Config) any { return &c.MaxTotal }},
		{"connection_request_timeout", "self-call: wait for a pooled connection; 0 = forever", func(c *Config) any { return &c.ConnectionRequestTimeout }},
		{"connect_timeout", "self-call: TCP connect timeout; 0 = none", func(c *Config) any { return &c.ConnectTimeout }},
		{"socket_timeout", "self-call: longest silence while reading (SO_TIMEOUT); 0 = none, the incident's setting", func(c *Config) any { return &c.SocketTimeout }},
		{"nofile", "RLIMIT_NOFILE (soft and hard) the server sets on itself; 0 = leave as is", func(c *Config) any { return &c.NoFile }},
		{"static.server", "split: the static server: embedded (sim's own, as a child process) or nginx (Debian's nginx with a generated config)", func(c *Config) any { return &c.Static.Server }},
		{"static.dir", "split+nginx: folder for nginx's config, pid, logs and temp files; default a fresh temp dir removed at exit", func(c *Config) any { return &c.Static.Dir }},
		{"static.url", "split: fetch the static file from this base URL instead of starting a static server", func(c *Config) any { return &c.Static.URL }},
	}
}

// defaultListenAddr is every listener's default: loopback, and a free port picked by the kernel.
const defaultListenAddr = "127.0.0.1:0"

// Defaults returns the config with every key at its default.
func Defaults() Config {
	return Config{
		Topology:          Self,
		Addr:              defaultListenAddr,
		AdminAddr:         defaultListenAddr,
		StaticAddr:        defaultListenAddr,
		Connector:         connector.NIO,
		MaxThreads:        DefaultMaxThreads,
		MaxConnections:    DefaultMaxConnections,
		AcceptCount:       DefaultAcceptCount,
		ConnectionTimeout: DefaultConnectionTimeout,
		KeepAliveTimeout:  unsetKeepAlive,
		WorkTime:          DefaultWorkTime,
		WorkTimeDist:      WorkFixed,
		WorkTimeSeed:      DefaultWorkTimeSeed,
		MaxPerRoute:       DefaultMaxPerRoute,
		MaxTotal:          DefaultMaxTotal,
		NoFile:            DefaultNoFile,
		Static:            StaticConfig{Server: static.Embedded},
	}
}

// unsetKeepAlive is KeepAliveTimeout's default, "not set": Normalize makes it
// connection_timeout, as Tomcat does. Any other negative value is refused by Validate, not
// taken for unset (--keep-alive-timeout=-5s used to run with the connection timeout).
const unsetKeepAlive time.Duration = -1

// Normalize resolves the defaults that depend on other keys. It changes only values left at
// their defaults, so that Validate still sees a value that contradicts another key.
func (c *Config) Normalize() {
	if c.KeepAliveTimeout == unsetKeepAlive {
		c.KeepAliveTimeout = c.ConnectionTimeout
	}
	if c.Connector == connector.BIO && c.MaxConnections == DefaultMaxConnections {
		c.MaxConnections = c.MaxThreads
	}
}

// Validate checks every key; the error is an *invalid.Error naming the first bad one.
func (c *Config) Validate() error {
	checks := []struct {
		bad     bool
		field   string
		value   any
		allowed string
	}{
		{c.Topology != Self && c.Topology != Split, "topology", c.Topology, "one of self, split"},
		{c.Connector != connector.NIO && c.Connector != connector.BIO, "connector", c.Connector, "one of nio, bio"},
		{c.MaxThreads < 1 || c.MaxThreads > maxThreadsLimit, "max_threads", c.MaxThreads, fmt.Sprintf("1 to %d", maxThreadsLimit)},
		{c.MaxConnections < 1 || c.MaxConnections > maxConnectionsLimit, "max_connections", c.MaxConnections, fmt.Sprintf("1 to %d", maxConnectionsLimit)},
		{c.Connector == connector.BIO && c.MaxConnections != c.MaxThreads, "max_connections", c.MaxConnections,
			fmt.Sprintf("unset with connector bio, which serves a connection per worker: max_threads (%d)", c.MaxThreads)},
		{c.AcceptCount < 1 || c.AcceptCount > maxAcceptCount, "accept_count", c.AcceptCount, fmt.Sprintf("1 to %d", maxAcceptCount)},
		{c.ConnectionTimeout < 0, "connection_timeout", c.ConnectionTimeout, "a duration >= 0"},
		{c.KeepAliveTimeout < 0 && c.KeepAliveTimeout != unsetKeepAlive, "keep_alive_timeout", c.KeepAliveTimeout, "a duration >= 0"},
		{c.WorkTime < 0 || c.WorkTime > maxWorkTime, "work_time", c.WorkTime, "0 to " + maxWorkTime.String()},
		{c.WorkTimeDist != WorkFixed && c.WorkTimeDist != WorkExponential && c.WorkTimeDist != WorkLognormal, "work_time_dist", c.WorkTimeDist, "one of fixed, exponential, lognormal"},
		{c.WorkTimeDist != WorkFixed && c.WorkTime <= 0, "work_time", c.WorkTime, "a duration > 0 with work_time_dist " + c.WorkTimeDist},
		{c.WorkTimeDist == WorkExponential && exponentialP99(c.WorkTime) > maxWorkDraw, "work_time", c.WorkTime,
			fmt.Sprintf("a mean > 0 and <= %v with work_time_dist exponential, so that its p99 (mean x ln 100) stays under the %v cap on a draw", maxExponentialMean().Round(time.Millisecond), maxWorkDraw)},
		{c.WorkTimeDist == WorkLognormal && (c.WorkTimeP99 <= c.WorkTime || c.WorkTimeP99 > maxWorkDraw), "work_time_p99", c.WorkTimeP99,
			fmt.Sprintf("a duration > work_time (%v) and <= %v with work_time_dist lognormal", c.WorkTime, maxWorkDraw)},
		{c.WorkTimeDist != WorkLognormal && c.WorkTimeP99 != 0, "work_time_p99", c.WorkTimeP99, "0 unless work_time_dist is lognormal (exponential: p99 = work_time x ln 100)"},
		{c.WorkTimeSeed < 0, "work_time_seed", c.WorkTimeSeed, "a whole number >= 0"},
		{c.WorkTimeDist == WorkFixed && c.WorkTimeSeed != DefaultWorkTimeSeed, "work_time_seed", c.WorkTimeSeed,
			fmt.Sprintf("the default (%d) unless work_time_dist is exponential or lognormal: fixed work times draw nothing", DefaultWorkTimeSeed)},
		{c.MaxPerRoute < 1 || c.MaxPerRoute > maxThreadsLimit, "max_per_route", c.MaxPerRoute, fmt.Sprintf("1 to %d", maxThreadsLimit)},
		{c.MaxTotal < 1 || c.MaxTotal > maxThreadsLimit, "max_total", c.MaxTotal, fmt.Sprintf("1 to %d", maxThreadsLimit)},
		{c.ConnectionRequestTimeout < 0, "connection_request_timeout", c.ConnectionRequestTimeout, "a duration >= 0 (0 = none)"},
		{c.ConnectTimeout < 0, "connect_timeout", c.ConnectTimeout, "a duration >= 0 (0 = none)"},
		{c.SocketTimeout < 0, "socket_timeout", c.SocketTimeout, "a duration >= 0 (0 = none)"},
		{c.NoFile != 0 && (c.NoFile < minNoFile || c.NoFile > maxNoFile), "nofile", c.NoFile, fmt.Sprintf("0 (leave as is) or %d to %d", minNoFile, maxNoFile)},
		{c.Static.Server != static.Embedded && c.Static.Server != static.Nginx, "static.server", c.Static.Server, "one of embedded, nginx"},
		{c.Static.URL != "" && c.Topology != Split, "static.url", c.Static.URL, "empty unless topology is split"},
		// The static server's folder and address mean something only when split starts one:
		// given otherwise, they would be ignored without a word. static.server is not refused
		// with self: a profile's server section serves every topology of a comparison (the
		// incident profile names nginx for its split run), and the runner passes every key on.
		{c.Static.Dir != "" && (c.Topology != Split || c.Static.URL != "" || c.Static.Server != static.Nginx), "static.dir", c.Static.Dir,
			"empty unless topology is split with static.server nginx (it is nginx's folder)"},
		{c.StaticAddr != defaultListenAddr && (c.Topology != Split || c.Static.URL != ""), "static_addr", c.StaticAddr,
			"the default " + defaultListenAddr + " unless topology is split without static.url: only then is a static server started"},
		{c.Static.URL != "" && checkBaseURL(c.Static.URL) != nil, "static.url", c.Static.URL, "an http:// or https:// base URL with a host, a port (if any) from 1 to 65535 and no query, e.g. http://nginx"},
	}
	for _, ch := range checks {
		if ch.bad {
			return invalid.Field(ch.field, ch.value, ch.allowed)
		}
	}
	for _, a := range []struct{ field, addr string }{{"addr", c.Addr}, {"admin_addr", c.AdminAddr}, {"static_addr", c.StaticAddr}} {
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
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", host)
	}
	return nil
}

// maxPort is the highest TCP port.
const maxPort = 65535

// checkBaseURL accepts an absolute http(s) URL with a host, to which PagePath is appended.
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

func (c *Config) connectorConfig() connector.Config {
	return connector.Config{
		Mode:              c.Connector,
		MaxThreads:        c.MaxThreads,
		MaxConnections:    c.MaxConnections,
		AcceptCount:       c.AcceptCount,
		ConnectionTimeout: c.ConnectionTimeout,
		KeepAliveTimeout:  c.KeepAliveTimeout,
		HonorClientClose:  c.HonorClientClose,
		TCPKeepAlive:      c.TCPKeepAlive,
	}
}

// Flags renders c as `sim serve` flags, every key explicit, so that a child started with them
// runs exactly this config whatever SIM_* variables its environment holds.
func (c Config) Flags() []string {
	var out []string
	for _, k := range Keys() {
		var v string
		switch p := k.Ptr(&c).(type) {
		case *string:
			v = *p
		case *int:
			v = fmt.Sprint(*p)
		case *bool:
			v = fmt.Sprint(*p)
		case *time.Duration:
			v = p.String()
		}
		out = append(out, "--"+FlagName(k.Name)+"="+v)
	}
	return out
}

// FlagName turns a config key into its flag name: static.server → static-server.
func FlagName(key string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(key)
}

// EnvName turns a config key into its environment variable: static.server → SIM_STATIC_SERVER.
func EnvName(key string) string {
	return "SIM_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}
