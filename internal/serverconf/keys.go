package serverconf

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/runtimes"
	"github.com/simdev/sim/internal/topology"
)

// Kind is the type of a key's value.
type Kind int

// Kinds of values.
const (
	String Kind = iota
	Int
	Bool
	Duration
)

// Key is one config key. Its name is the YAML key (dots for nesting: static.server), its flag
// the name in kebab case (--static-server), its environment variable SIM_ and the name in upper
// snake case (SIM_STATIC_SERVER).
type Key struct {
	// Name is the key as a YAML file (a profile's server section, --config) writes it.
	Name string
	// Usage is the key's help, as `sim serve --help` prints it.
	Usage string
	// Kind is the type of its value.
	Kind Kind
	// Profile says whether a profile's server section may set the key. The keys it may not are
	// those the runner sets for each run: the topology (--topology) and the listeners (fresh
	// loopback ports), and the static server's address, folder and URL.
	Profile bool

	def, example any
	check        func(v any) (allowed string, ok bool)
	profileCheck func(v any) (allowed string, ok bool)
	get          func(*Config) any
	set          func(*Config, any)
	// is reports whether v is a value of the key's Go type (Overrides.Set checks it).
	is func(v any) bool
}

// scalar is the Go type of a key's value: string, int, bool or time.Duration.
type scalar interface {
	string | int | bool | time.Duration
}

// spec declares one key with its value's Go type; Keys turns each into a Key.
type spec[T scalar] struct {
	name  string
	usage string
	def   T
	// example is a valid value other than the default; the examples of the profile's keys go
	// together (the tests set them all at once and round-trip them through every source).
	example T
	// check returns what is allowed when v is not; nil accepts every value of the type.
	check func(v T) (allowed string, ok bool)
	// profileCheck, if set, replaces check in a profile's server section.
	profileCheck func(v T) (allowed string, ok bool)
	// field is where the key lives in Config.
	field func(*Config) *T
	// profile says a profile's server section may set the key (Key.Profile); Overrides keeps
	// the value by the key's name, so a profile key needs nothing more than this entry.
	profile bool
}

// Keys lists every config key, in the order help and command lines show them. This is the one
// place a key is declared, beside its typed field in Config: flags, SIM_* variables, --config,
// a profile's server section (Overrides), the child's command line and config.json all come
// from this list.
func Keys() []Key {
	return []Key{
		spec[string]{name: "topology", def: Self, example: Split, check: oneOf(topology.Names()...),
			usage: topologyUsage(),
			field: func(c *Config) *string { return &c.Topology }}.key(),
		spec[string]{name: "runtime", def: runtimes.Tomcat, example: runtimes.Gunicorn, check: oneOf(runtimes.Names()...), profile: true,
			usage: runtimeUsage(),
			field: func(c *Config) *string { return &c.Runtime }}.key(),
		spec[string]{name: "addr", def: defaultListenAddr, example: "127.0.0.1:18080",
			usage: "app listener host:port (loopback unless allow_non_loopback; port 0 picks a free one)",
			field: func(c *Config) *string { return &c.Addr }}.key(),
		spec[string]{name: "admin_addr", def: defaultListenAddr, example: "127.0.0.1:18081",
			usage: "admin listener (/metrics, /stats, /healthz, /debug/pprof) host:port",
			field: func(c *Config) *string { return &c.AdminAddr }}.key(),
		spec[string]{name: "static_addr", def: defaultListenAddr, example: "127.0.0.1:18082",
			usage: "split: static server host:port; bulkhead: its static connector's",
			field: func(c *Config) *string { return &c.StaticAddr }}.key(),
		spec[bool]{name: "allow_non_loopback", def: false, example: true,
			usage: "listen on non-loopback addresses (containers) and let the admin listener answer any Host header; never on a shared network",
			field: func(c *Config) *bool { return &c.AllowNonLoopback }}.key(),
		spec[string]{name: "connector", def: NIO, example: BIO, check: oneOf(NIO, BIO, Reactor),
			usage:   "nio (accept every connection, queue requests), bio (a worker per connection) or reactor (accept only while a worker is free, as bio; a worker per request, an idle kept-alive connection holding none: Puma)",
			field:   func(c *Config) *string { return &c.Connector },
			profile: true}.key(),
		spec[int]{name: "max_threads", def: DefaultMaxThreads, example: 16, check: between(1, maxThreadsLimit),
			usage:   "worker pool size (Tomcat maxThreads)",
			field:   func(c *Config) *int { return &c.MaxThreads },
			profile: true}.key(),
		// The example equals max_threads' example: connector's example is bio.
		spec[int]{name: "max_connections", def: DefaultMaxConnections, example: 16, check: between(1, maxConnectionsLimit),
			usage:   "open connections before the acceptor stops (Tomcat maxConnections; bio: max_threads)",
			field:   func(c *Config) *int { return &c.MaxConnections },
			profile: true}.key(),
		spec[int]{name: "accept_count", def: DefaultAcceptCount, example: 50, check: between(1, maxAcceptCount),
			usage:   "listen() backlog (Tomcat acceptCount)",
			field:   func(c *Config) *int { return &c.AcceptCount },
			profile: true}.key(),
		spec[time.Duration]{name: "connection_timeout", def: DefaultConnectionTimeout, example: 5 * time.Second, check: atLeastZero(""),
			usage:   "wait for a request after accept; 0 = none (Tomcat connectionTimeout)",
			field:   func(c *Config) *time.Duration { return &c.ConnectionTimeout },
			profile: true}.key(),
		spec[time.Duration]{name: "keep_alive_timeout", def: unsetKeepAlive, example: 90 * time.Second, check: atLeastZero(""),
			usage:   "idle keep-alive lifetime; unset = connection_timeout (Tomcat keepAliveTimeout)",
			field:   func(c *Config) *time.Duration { return &c.KeepAliveTimeout },
			profile: true}.key(),
		spec[bool]{name: "honor_client_close", def: false, example: true,
			usage:   "drop a queued request when its client closes (Tomcat does not)",
			field:   func(c *Config) *bool { return &c.HonorClientClose },
			profile: true}.key(),
		spec[bool]{name: "tcp_keepalive", def: false, example: true,
			usage:   "SO_KEEPALIVE on the app's connections, probes after 15s idle (Tomcat socket.soKeepAlive, unset by default: off); on, a long hang's CLOSE_WAIT sockets are reaped ~75s after their clients left",
			field:   func(c *Config) *bool { return &c.TCPKeepAlive },
			profile: true}.key(),
		spec[bool]{name: "keep_alive", def: true, example: false,
			usage:   "keep a connection open after its response (HTTP keep-alive, Tomcat's behaviour); false answers Connection: close and closes it after each response, as gunicorn's sync worker does, so each client request opens a new connection",
			field:   func(c *Config) *bool { return &c.KeepAlive },
			profile: true}.key(),
		spec[time.Duration]{name: "work_time", def: DefaultWorkTime, example: 200 * time.Millisecond, check: durationBetween(0, maxWorkTime),
			usage:   "business logic time of GET /page before its self-call; with work_time_dist, the mean (exponential) or median (lognormal)",
			field:   func(c *Config) *time.Duration { return &c.WorkTime },
			profile: true}.key(),
		spec[string]{name: "work_time_dist", def: WorkFixed, example: WorkLognormal, check: oneOf(WorkFixed, WorkExponential, WorkLognormal),
			usage:   "work time distribution: fixed (always work_time), exponential (mean work_time) or lognormal (median work_time, p99 work_time_p99); draws are capped at min(10 x p99, 60s)",
			field:   func(c *Config) *string { return &c.WorkTimeDist },
			profile: true}.key(),
		spec[time.Duration]{name: "work_time_p99", def: 0, example: 2 * time.Second, check: durationBetween(0, MaxWorkDraw),
			usage:   "lognormal: the 99th percentile of the work time; > work_time, <= 60s",
			field:   func(c *Config) *time.Duration { return &c.WorkTimeP99 },
			profile: true}.key(),
		spec[int]{name: "work_time_seed", def: DefaultWorkTimeSeed, example: 7, check: atLeast(0),
			usage:   "seed of the work time draws (>= 0): the same seed draws the same sequence",
			field:   func(c *Config) *int { return &c.WorkTimeSeed },
			profile: true}.key(),
		spec[int]{name: "max_per_route", def: DefaultMaxPerRoute, example: 4, check: between(1, maxThreadsLimit),
			usage:   "self-call pool: connections per host (HttpClient DefaultMaxPerRoute)",
			field:   func(c *Config) *int { return &c.MaxPerRoute },
			profile: true}.key(),
		spec[int]{name: "max_total", def: DefaultMaxTotal, example: 40, check: between(1, maxThreadsLimit),
			usage:   "self-call pool: connections in all (HttpClient MaxTotal)",
			field:   func(c *Config) *int { return &c.MaxTotal },
			profile: true}.key(),
		spec[bool]{name: "selfcall_pool", def: true, example: false,
			usage:   "self-call through a connection pool (Apache HttpClient: leases of max_per_route and max_total, connections reused); false dials a new connection per self-call and closes it after the answer (Python requests without a Session, curl, Ruby Net::HTTP): no lease, so max_per_route, max_total and connection_request_timeout do nothing",
			field:   func(c *Config) *bool { return &c.SelfCallPool },
			profile: true}.key(),
		// Puma's and Jetty's mechanics (issue 17): Net::HTTP's retry, the threads Jetty's
		// connector leases from its pool.
		spec[int]{name: "selfcall_retries", def: 0, example: 1, check: between(0, maxSelfCallRetries),
			usage:   "self-call: times a call that timed out reading (socket_timeout) or was reset is sent again, on a new connection at the tail of the queue (Ruby Net::HTTP's max_retries, 1 by default; HttpClient, requests and curl: 0); a connect timeout is not retried",
			field:   func(c *Config) *int { return &c.SelfCallRetries },
			profile: true}.key(),
		spec[int]{name: "connector_threads", def: 0, example: 2, check: between(0, maxThreadsLimit-1),
			usage:   "threads the connector takes from max_threads for itself, so that max_threads - connector_threads serve requests (Jetty 9.4: an acceptor and a selector leased from its QueuedThreadPool, 2 on 2 cores; Tomcat: 0, its acceptor and poller are threads of their own)",
			field:   func(c *Config) *int { return &c.ConnectorThreads },
			profile: true}.key(),
		spec[time.Duration]{name: "connection_request_timeout", def: 0, example: time.Second, check: atLeastZero(" (0 = none)"),
			usage:   "self-call: wait for a pooled connection; 0 = forever",
			field:   func(c *Config) *time.Duration { return &c.ConnectionRequestTimeout },
			profile: true}.key(),
		spec[time.Duration]{name: "connect_timeout", def: 0, example: 2 * time.Second, check: atLeastZero(" (0 = none)"),
			usage:   "self-call: TCP connect timeout; 0 = none",
			field:   func(c *Config) *time.Duration { return &c.ConnectTimeout },
			profile: true}.key(),
		spec[time.Duration]{name: "socket_timeout", def: 0, example: 3 * time.Second, check: atLeastZero(" (0 = none)"),
			usage:   "self-call: longest silence while reading (SO_TIMEOUT); 0 = none, the incident's setting",
			field:   func(c *Config) *time.Duration { return &c.SocketTimeout },
			profile: true}.key(),
		// The watchdog (issue 17): gunicorn's arbiter kills a worker silent for --timeout and
		// boots a new one.
		spec[time.Duration]{name: "worker_timeout", def: 0, example: 30 * time.Second, check: atLeastZero(" (0 = no watchdog)"),
			usage:   "watchdog: kill a worker that has spent this long in one request (its client closed unanswered, its self-call closed) and start a new one, as gunicorn's --timeout (30s) does; 0 = no watchdog, Tomcat's behaviour",
			field:   func(c *Config) *time.Duration { return &c.WorkerTimeout },
			profile: true}.key(),
		spec[time.Duration]{name: "worker_boot", def: 0, example: 2 * time.Second, check: atLeastZero(""),
			usage:   "watchdog: time from a worker's kill until its replacement takes a request (gunicorn: the arbiter's SIGKILL a second after SIGABRT, then the fork and the app's import: median 2.0 s, 0.5-12 s, on this machine)",
			field:   func(c *Config) *time.Duration { return &c.WorkerBoot },
			profile: true}.key(),
		// A profile exists to reproduce the fd ceiling and asks for one: 0 (leave the limit as
		// it is, which Go raises to the hard limit) is for sim serve only.
		spec[int]{name: "nofile", def: DefaultNoFile, example: 1024,
			check:        zeroOr(between(MinNoFile, maxNoFile), "leave as is"),
			profileCheck: between(MinNoFile, maxNoFile),
			usage:        "RLIMIT_NOFILE (soft and hard) the server sets on itself; 0 = leave as is",
			field:        func(c *Config) *int { return &c.NoFile },
			profile:      true}.key(),
		spec[int]{name: "max_queue_size", def: 0, example: 32, check: between(0, maxConnectionsLimit),
			usage:   "bounded-queue: requests the worker queue holds before it answers 503 (Tomcat <Executor maxQueueSize>); 0 = unbounded, bounded-queue makes it 100",
			field:   func(c *Config) *int { return &c.MaxQueueSize },
			profile: true}.key(),
		spec[string]{name: "admission", def: topology.AdmitWait, example: topology.AdmitReject, check: oneOf(topology.AdmissionModes()...),
			usage:   "admission-limit: a page over the limit waits inside its worker (wait: a servlet filter), gets 503 (reject) or waits before taking a worker (queue)",
			field:   func(c *Config) *string { return &c.Admission },
			profile: true}.key(),
		spec[int]{name: "reserve", def: defaultReserve, example: 2, check: between(1, maxThreadsLimit-1),
			usage:   "admission-limit: workers kept from pages for the self-calls; at most max_threads - reserve pages at once",
			field:   func(c *Config) *int { return &c.Reserve },
			profile: true}.key(),
		spec[int]{name: "bulkhead_threads", def: defaultBulkheadThreads, example: 4, check: between(1, maxThreadsLimit),
			usage:   "bulkhead: worker pool of the static connector (its own Tomcat <Executor>)",
			field:   func(c *Config) *int { return &c.BulkheadThreads },
			profile: true}.key(),
		spec[string]{name: "static.server", def: Embedded, example: Nginx, check: oneOf(Embedded, Nginx),
			usage:   "split: the static server: embedded (sim's own, as a child process) or nginx (Debian's nginx with a generated config)",
			field:   func(c *Config) *string { return &c.Static.Server },
			profile: true}.key(),
		spec[string]{name: "static.dir", def: "", example: "/var/tmp/sim-nginx",
			usage: "split+nginx: folder for nginx's config, pid, logs and temp files; default a fresh temp dir removed at exit",
			field: func(c *Config) *string { return &c.Static.Dir }}.key(),
		spec[string]{name: "static.url", def: "", example: "http://nginx:8088", check: baseURL,
			usage: "split: fetch the static file from this base URL instead of starting a static server",
			field: func(c *Config) *string { return &c.Static.URL }}.key(),
		// The front proxy (nginx in front of PHP-FPM): its own listener on addr, a new upstream
		// connection per request to the worker pool's connector on pool_addr, and its own timeout.
		spec[bool]{name: "front_proxy", def: false, example: true,
			usage:   "a reverse proxy in front of the worker pool, as nginx in front of PHP-FPM: it listens on addr (where the load and the self-call go) and accepts every connection, keeps them alive, opens a new connection to the pool's connector (pool_addr) per request, closes it when its client leaves (nginx's 499) and answers 504 after proxy_read_timeout",
			field:   func(c *Config) *bool { return &c.FrontProxy },
			profile: true}.key(),
		spec[time.Duration]{name: "proxy_read_timeout", def: DefaultProxyReadTimeout, example: 3 * time.Second, check: atLeastZero(" (0 = none)"),
			usage:   "front_proxy: how long the proxy waits for the pool's answer after sending a request before it answers 504 and closes the upstream connection (nginx's fastcgi_read_timeout / proxy_read_timeout, 60s); 0 = for ever",
			field:   func(c *Config) *time.Duration { return &c.ProxyReadTimeout },
			profile: true}.key(),
		spec[string]{name: "pool_addr", def: defaultListenAddr, example: "127.0.0.1:18083",
			usage: "front_proxy: the worker pool's connector host:port, behind the proxy (PHP-FPM's listen address)",
			field: func(c *Config) *string { return &c.PoolAddr }}.key(),
		// A dynamic pool (PHP-FPM's pm = dynamic), the pool behind nginx in Debian's default.
		spec[int]{name: "pool_start_workers", def: 0, example: 2, check: between(0, maxThreadsLimit),
			usage:   "connector bio: start the pool with this many workers and grow it as PHP-FPM's pm = dynamic does (pm.start_servers, Debian's 2): every second, while fewer than pool_min_spare are idle, start the missing ones (up to max_threads); with more than pool_max_spare idle, stop one. 0 = max_threads from the start (Tomcat, pm = static)",
			field:   func(c *Config) *int { return &c.PoolStartWorkers },
			profile: true}.key(),
		spec[int]{name: "pool_min_spare", def: DefaultPoolMinSpare, example: 2, check: between(1, maxThreadsLimit),
			usage:   "pool_start_workers > 0: idle workers the pool keeps at least (pm.min_spare_servers)",
			field:   func(c *Config) *int { return &c.PoolMinSpare },
			profile: true}.key(),
		spec[int]{name: "pool_max_spare", def: DefaultPoolMaxSpare, example: 4, check: between(1, maxThreadsLimit),
			usage:   "pool_start_workers > 0: idle workers the pool keeps at most (pm.max_spare_servers)",
			field:   func(c *Config) *int { return &c.PoolMaxSpare },
			profile: true}.key(),
	}
}

// Defaults of the topologies' own keys.
const (
	// defaultReserve keeps one worker from pages: the least that lets a self-call through.
	defaultReserve = 1
	// defaultBulkheadThreads sizes the static connector's pool: the file takes well under a
	// millisecond to serve, so ten workers serve thousands a second.
	defaultBulkheadThreads = 10
)

// topologyUsage lists every topology for the topology key's help.
func topologyUsage() string {
	var b strings.Builder
	b.WriteString("one of:")
	for _, tp := range topology.All() {
		fmt.Fprintf(&b, " %s (%s);", tp.Name, tp.Summary)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// runtimeUsage lists every runtime for the runtime key's help.
func runtimeUsage() string {
	var b strings.Builder
	b.WriteString("the server runtime whose mechanics and defaults the server imitates (its defaults apply to the keys left at their default; a key set to exactly its default counts as left):")
	for _, r := range runtimes.All() {
		fmt.Fprintf(&b, " %s (%s);", r.Name, r.Summary)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// LookupKey returns the key of that name.
func LookupKey(name string) (Key, bool) {
	for _, k := range Keys() {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

func (s spec[T]) key() Key {
	k := Key{Name: s.name, Usage: s.usage, Kind: kindOf[T](), Profile: s.profile, def: s.def, example: s.example}
	k.get = func(c *Config) any { return *s.field(c) }
	k.set = func(c *Config, v any) { *s.field(c) = v.(T) }
	k.is = func(v any) bool { _, ok := v.(T); return ok }
	k.check = anyCheck(s.check)
	k.profileCheck = k.check
	if s.profileCheck != nil {
		k.profileCheck = anyCheck(s.profileCheck)
	}
	return k
}

func kindOf[T scalar]() Kind {
	var zero T
	switch any(zero).(type) {
	case int:
		return Int
	case bool:
		return Bool
	case time.Duration:
		return Duration
	}
	return String
}

func anyCheck[T scalar](f func(T) (string, bool)) func(any) (string, bool) {
	if f == nil {
		return func(any) (string, bool) { return "", true }
	}
	return func(v any) (string, bool) { return f(v.(T)) }
}

// Default returns the key's default value: a string, int, bool or time.Duration (Kind).
func (k Key) Default() any { return k.def }

// Example returns a valid value of the key other than its default. The examples of the keys a
// profile may set go together in one profile.
func (k Key) Example() any { return k.example }

// FlagName is the key's `sim serve` flag, without dashes: static.server → static-server.
func (k Key) FlagName() string { return FlagName(k.Name) }

// EnvName is the key's environment variable: static.server → SIM_STATIC_SERVER.
func (k Key) EnvName() string { return EnvName(k.Name) }

// Get returns the key's value in c.
func (k Key) Get(c *Config) any { return k.get(c) }

// Check returns an *invalid.Error naming the key when v, a value of its Kind, is not allowed.
func (k Key) Check(v any) error {
	if allowed, ok := k.check(v); !ok {
		return invalid.Field(k.Name, v, allowed)
	}
	return nil
}

// ParseText reads a value written as text: a flag or an environment variable. The error is an
// *invalid.Error naming the key with the text as given.
func (k Key) ParseText(s string) (any, error) {
	t := strings.TrimSpace(s)
	switch k.Kind {
	case Int:
		n, err := strconv.Atoi(t)
		if err != nil {
			return nil, invalid.Field(k.Name, s, wholeWords)
		}
		return n, nil
	case Bool:
		switch strings.ToLower(t) {
		case "true", "1", "yes":
			return true, nil
		case "false", "0", "no":
			return false, nil
		}
		return nil, invalid.Field(k.Name, s, boolWords)
	case Duration:
		d, err := time.ParseDuration(t)
		if err != nil {
			return nil, invalid.Field(k.Name, s, durationWords)
		}
		return d, nil
	}
	return s, nil
}

// ParseValue reads a value from a YAML document (a profile, a --config file) as yamldoc decodes
// it. Values are not converted between types, as a profile's other keys are not: "16" (quoted)
// is no whole number and "yes" no boolean. A duration needs a unit ("250ms"), but for a bare 0.
// The error is an *invalid.Error naming the key with the value as given.
func (k Key) ParseValue(raw any) (any, error) {
	switch k.Kind {
	case Int:
		switch x := raw.(type) {
		case int:
			return x, nil
		case int64:
			if x == int64(int(x)) {
				return int(x), nil
			}
		case uint64:
			if x <= math.MaxInt32 {
				return int(x), nil
			}
		case float64:
			// A YAML number with a fraction or an exponent: whole, and small enough to be exact.
			if x == math.Trunc(x) && math.Abs(x) <= math.MaxInt32 {
				return int(x), nil
			}
		}
		return nil, invalid.Field(k.Name, raw, wholeWords)
	case Bool:
		if b, ok := raw.(bool); ok {
			return b, nil
		}
		return nil, invalid.Field(k.Name, raw, boolWords)
	case Duration:
		switch x := raw.(type) {
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(x))
			if err != nil {
				return nil, invalid.Field(k.Name, raw, durationWords)
			}
			return d, nil
		case int, int64, uint64, float64:
			// 0 needs no unit; any other bare number is ambiguous (seconds? Go's nanoseconds?).
			if fmt.Sprint(x) == "0" {
				return time.Duration(0), nil
			}
			return nil, invalid.Field(k.Name, raw, durationWords+" (a bare number has no unit)")
		}
		return nil, invalid.Field(k.Name, raw, durationWords)
	}
	if s, ok := raw.(string); ok {
		return s, nil
	}
	return nil, invalid.Field(k.Name, raw, "a string")
}

// Words for the kinds of values, in the messages of ParseText and ParseValue.
const (
	wholeWords    = "a whole number"
	boolWords     = "true or false"
	durationWords = "a duration such as 10s or 250ms"
)

// SetText parses s (ParseText), checks it (Check) and sets the key in c.
func (k Key) SetText(c *Config, s string) error {
	v, err := k.ParseText(s)
	if err != nil {
		return err
	}
	return k.setChecked(c, v)
}

// SetValue parses raw, a value of a YAML document (ParseValue), checks it and sets the key in c.
func (k Key) SetValue(c *Config, raw any) error {
	v, err := k.ParseValue(raw)
	if err != nil {
		return err
	}
	return k.setChecked(c, v)
}

func (k Key) setChecked(c *Config, v any) error {
	if err := k.Check(v); err != nil {
		return err
	}
	k.set(c, v)
	return nil
}

// Format renders v, a value of the key's Kind, as its flag takes it (durations in Go syntax).
func (k Key) Format(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Duration:
		return x.String()
	}
	return fmt.Sprint(v)
}

// FlagName turns a config key into its flag name: static.server → static-server.
func FlagName(key string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(key)
}

// EnvName turns a config key into its environment variable: static.server → SIM_STATIC_SERVER.
func EnvName(key string) string {
	return "SIM_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// Unknown returns the dotted names of the keys of a YAML document's mapping m that name no
// config key, nor a mapping of config keys ("static"), sorted.
func Unknown(m map[string]any) []string {
	var out []string
	unknown(m, "", &out)
	slices.Sort(out)
	return out
}

func unknown(m map[string]any, prefix string, out *[]string) {
	for k, v := range m {
		name := join(prefix, k)
		if _, ok := LookupKey(name); ok {
			continue
		}
		if sub, ok := v.(map[string]any); ok && isSection(name, false) {
			unknown(sub, name, out)
			continue
		}
		*out = append(*out, name)
	}
}

// Lookup returns the value of the dotted key name in a YAML document's mapping m.
func Lookup(m map[string]any, name string) (any, bool) {
	var cur any = m
	for part := range strings.SplitSeq(name, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// isSection reports whether name is the mapping some keys are nested in (of a profile's keys
// only, when profile is set).
func isSection(name string, profile bool) bool {
	for _, k := range Keys() {
		if strings.HasPrefix(k.Name, name+".") && (k.Profile || !profile) {
			return true
		}
	}
	return false
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// Checks. Each returns what is allowed, in words, and whether v is.

func oneOf(words ...string) func(string) (string, bool) {
	return func(v string) (string, bool) {
		return "one of " + strings.Join(words, ", "), slices.Contains(words, v)
	}
}

func between(lo, hi int) func(int) (string, bool) {
	return func(v int) (string, bool) {
		return fmt.Sprintf("%d to %d", lo, hi), v >= lo && v <= hi
	}
}

func atLeast(lo int) func(int) (string, bool) {
	return func(v int) (string, bool) {
		return fmt.Sprintf("a whole number >= %d", lo), v >= lo
	}
}

// zeroOr accepts 0, which means what meaning says, or what check accepts.
func zeroOr(check func(int) (string, bool), meaning string) func(int) (string, bool) {
	return func(v int) (string, bool) {
		allowed, ok := check(v)
		return fmt.Sprintf("0 (%s) or %s", meaning, allowed), v == 0 || ok
	}
}

// atLeastZero refuses negative durations; note follows "a duration >= 0" in the message.
func atLeastZero(note string) func(time.Duration) (string, bool) {
	return func(d time.Duration) (string, bool) {
		return "a duration >= 0" + note, d >= 0
	}
}

func durationBetween(lo, hi time.Duration) func(time.Duration) (string, bool) {
	return func(d time.Duration) (string, bool) {
		return lo.String() + " to " + hi.String(), d >= lo && d <= hi
	}
}

func baseURL(v string) (string, bool) {
	return "an http:// or https:// base URL with a host, a port (if any) from 1 to 65535 and no query, e.g. http://nginx",
		v == "" || checkBaseURL(v) == nil
}
