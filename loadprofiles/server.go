package loadprofiles

import (
	"strconv"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// Server overrides the configuration of the server under test (`sim serve`). Every field is a
// pointer so that nil means "not set, keep the server's default" and the runner can tell an
// override from a default; Flags renders the set ones.
type Server struct {
	// Connector is "nio" or "bio".
	Connector *string `yaml:"connector" mapstructure:"connector" json:"connector,omitempty"`
	// MaxThreads is the size of the bounded worker pool; > 0.
	MaxThreads *int `yaml:"max_threads" mapstructure:"max_threads" json:"max_threads,omitempty"`
	// MaxConnections is where the acceptor stops accepting; > 0.
	MaxConnections *int `yaml:"max_connections" mapstructure:"max_connections" json:"max_connections,omitempty"`
	// AcceptCount is the listen backlog; > 0.
	AcceptCount *int `yaml:"accept_count" mapstructure:"accept_count" json:"accept_count,omitempty"`
	// ConnectionTimeout is the idle timer of a new connection; >= 0.
	ConnectionTimeout *time.Duration `yaml:"connection_timeout" mapstructure:"connection_timeout" json:"connection_timeout,omitempty"`
	// KeepAliveTimeout is the idle timer between keep-alive requests; >= 0.
	KeepAliveTimeout *time.Duration `yaml:"keep_alive_timeout" mapstructure:"keep_alive_timeout" json:"keep_alive_timeout,omitempty"`
	// HonorClientClose abandons a handler when its client leaves (Tomcat does not).
	HonorClientClose *bool `yaml:"honor_client_close" mapstructure:"honor_client_close" json:"honor_client_close,omitempty"`
	// TCPKeepAlive turns SO_KEEPALIVE on for the app's connections (Tomcat's socket.soKeepAlive,
	// unset by default, so the server's default is off). With it on, a long hang's CLOSE_WAIT
	// sockets are reaped by keepalive probes while their fds stay open.
	TCPKeepAlive *bool `yaml:"tcp_keepalive" mapstructure:"tcp_keepalive" json:"tcp_keepalive,omitempty"`
	// WorkTime is how long a page request works; >= 0.
	WorkTime *time.Duration `yaml:"work_time" mapstructure:"work_time" json:"work_time,omitempty"`
	// WorkTimeDist is "fixed", "exponential" (mean WorkTime) or "lognormal" (median WorkTime).
	WorkTimeDist *string `yaml:"work_time_dist" mapstructure:"work_time_dist" json:"work_time_dist,omitempty"`
	// WorkTimeP99 is the lognormal work time's 99th percentile; > WorkTime.
	WorkTimeP99 *time.Duration `yaml:"work_time_p99" mapstructure:"work_time_p99" json:"work_time_p99,omitempty"`
	// WorkTimeSeed seeds the server's work time draws; >= 0.
	WorkTimeSeed *int `yaml:"work_time_seed" mapstructure:"work_time_seed" json:"work_time_seed,omitempty"`
	// MaxPerRoute is the self-call client's per-route pool size; > 0.
	MaxPerRoute *int `yaml:"max_per_route" mapstructure:"max_per_route" json:"max_per_route,omitempty"`
	// MaxTotal is the self-call client's total pool size; > 0.
	MaxTotal *int `yaml:"max_total" mapstructure:"max_total" json:"max_total,omitempty"`
	// ConnectionRequestTimeout bounds the wait for a pool lease; >= 0, 0 = none.
	ConnectionRequestTimeout *time.Duration `yaml:"connection_request_timeout" mapstructure:"connection_request_timeout" json:"connection_request_timeout,omitempty"`
	// ConnectTimeout bounds the self-call's connect; >= 0, 0 = none.
	ConnectTimeout *time.Duration `yaml:"connect_timeout" mapstructure:"connect_timeout" json:"connect_timeout,omitempty"`
	// SocketTimeout bounds the self-call's reads; >= 0, 0 = none.
	SocketTimeout *time.Duration `yaml:"socket_timeout" mapstructure:"socket_timeout" json:"socket_timeout,omitempty"`
	// NoFile is the server process's RLIMIT_NOFILE; >= MinNofile.
	NoFile *int `yaml:"nofile" mapstructure:"nofile" json:"nofile,omitempty"`
	// Static configures the static file server of the split topology.
	Static Static `yaml:"static" mapstructure:"static" json:"static"`
}

// Static overrides the static file server settings.
type Static struct {
	// Server is "embedded" or "nginx".
	Server *string `yaml:"server" mapstructure:"server" json:"server,omitempty"`
}

// Flags returns `--kebab-case=value` flags for the set fields, in declaration order so that the
// command line of the `sim serve` child is the same from run to run. Durations use Go syntax.
func (s Server) Flags() []string {
	var f []string
	addString(&f, "connector", s.Connector)
	addInt(&f, "max-threads", s.MaxThreads)
	addInt(&f, "max-connections", s.MaxConnections)
	addInt(&f, "accept-count", s.AcceptCount)
	addDuration(&f, "connection-timeout", s.ConnectionTimeout)
	addDuration(&f, "keep-alive-timeout", s.KeepAliveTimeout)
	if s.HonorClientClose != nil {
		f = append(f, "--honor-client-close="+strconv.FormatBool(*s.HonorClientClose))
	}
	if s.TCPKeepAlive != nil {
		f = append(f, "--tcp-keepalive="+strconv.FormatBool(*s.TCPKeepAlive))
	}
	addDuration(&f, "work-time", s.WorkTime)
	addString(&f, "work-time-dist", s.WorkTimeDist)
	addDuration(&f, "work-time-p99", s.WorkTimeP99)
	addInt(&f, "work-time-seed", s.WorkTimeSeed)
	addInt(&f, "max-per-route", s.MaxPerRoute)
	addInt(&f, "max-total", s.MaxTotal)
	addDuration(&f, "connection-request-timeout", s.ConnectionRequestTimeout)
	addDuration(&f, "connect-timeout", s.ConnectTimeout)
	addDuration(&f, "socket-timeout", s.SocketTimeout)
	addInt(&f, "nofile", s.NoFile)
	addString(&f, "static-server", s.Static.Server)
	return f
}

func addString(f *[]string, name string, v *string) {
	if v != nil {
		*f = append(*f, "--"+name+"="+*v)
	}
}

func addInt(f *[]string, name string, v *int) {
	if v != nil {
		*f = append(*f, "--"+name+"="+strconv.Itoa(*v))
	}
}

func addDuration(f *[]string, name string, v *time.Duration) {
	if v != nil {
		*f = append(*f, "--"+name+"="+v.String())
	}
}

func (s Server) check() error {
	if s.Connector != nil && *s.Connector != "nio" && *s.Connector != "bio" {
		return invalid.Field("server.connector", *s.Connector, "one of nio, bio")
	}
	// In file order, so that errors fixed one at a time move down the file.
	var dist error
	if d := s.WorkTimeDist; d != nil && *d != "fixed" && *d != "exponential" && *d != "lognormal" {
		dist = invalid.Field("server.work_time_dist", *d, "one of fixed, exponential, lognormal")
	}
	checks := []error{
		atLeast("server.max_threads", s.MaxThreads, 1),
		atLeast("server.max_connections", s.MaxConnections, 1),
		atLeast("server.accept_count", s.AcceptCount, 1),
		nonNegative("server.connection_timeout", s.ConnectionTimeout, ""),
		nonNegative("server.keep_alive_timeout", s.KeepAliveTimeout, ""),
		nonNegative("server.work_time", s.WorkTime, ""),
		dist,
		nonNegative("server.work_time_p99", s.WorkTimeP99, ", > work_time with work_time_dist lognormal"),
		atLeast("server.work_time_seed", s.WorkTimeSeed, 0),
		atLeast("server.max_per_route", s.MaxPerRoute, 1),
		atLeast("server.max_total", s.MaxTotal, 1),
		nonNegative("server.connection_request_timeout", s.ConnectionRequestTimeout, ", 0 = none"),
		nonNegative("server.connect_timeout", s.ConnectTimeout, ", 0 = none"),
		nonNegative("server.socket_timeout", s.SocketTimeout, ", 0 = none"),
		atLeast("server.nofile", s.NoFile, MinNofile),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if s.Static.Server != nil && *s.Static.Server != "embedded" && *s.Static.Server != "nginx" {
		return invalid.Field("server.static.server", *s.Static.Server, "one of embedded, nginx")
	}
	return nil
}

func atLeast(key string, v *int, least int) error {
	if v == nil || *v >= least {
		return nil
	}
	if least == 1 {
		return invalid.Field(key, *v, "> 0")
	}
	return invalid.Field(key, *v, ">= "+strconv.Itoa(least))
}

func nonNegative(key string, d *time.Duration, note string) error {
	if d != nil && *d < 0 {
		return invalid.Field(key, *d, "a duration >= 0"+note)
	}
	return nil
}
