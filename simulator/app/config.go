package app

import (
	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/simulator/connector"
)

// Config is the server's whole configuration. Its keys, their defaults, checks and help are
// declared once, in serverconf.Keys, which a profile's server section shares: see package
// serverconf.
type Config = serverconf.Config

// StaticConfig selects the server of the static file in the split topology.
type StaticConfig = serverconf.StaticConfig

// Key is one config key (serverconf.Key).
type Key = serverconf.Key

// Topologies.
const (
	// Self serves the static file from the app's own bounded connector: the incident.
	Self = serverconf.Self
	// Split serves it from a separate static server process: the fix.
	Split = serverconf.Split
)

// Defaults of the self-call pool, HttpClient 4.x's (serverconf has them all).
const (
	DefaultMaxPerRoute = serverconf.DefaultMaxPerRoute
	DefaultMaxTotal    = serverconf.DefaultMaxTotal
)

// Keys lists every config key in the order help shows them.
func Keys() []Key { return serverconf.Keys() }

// Defaults returns the config with every key at its default.
func Defaults() Config { return serverconf.Defaults() }

// FlagName turns a config key into its flag name: static.server → static-server.
func FlagName(key string) string { return serverconf.FlagName(key) }

// EnvName turns a config key into its environment variable: static.server → SIM_STATIC_SERVER.
func EnvName(key string) string { return serverconf.EnvName(key) }

func connectorConfig(c Config) connector.Config {
	return connector.Config{
		Mode:               c.Connector,
		MaxThreads:         c.Workers(), // connector_threads serve no request
		MaxConnections:     c.MaxConnections,
		AcceptCount:        c.AcceptCount,
		ConnectionTimeout:  c.ConnectionTimeout,
		KeepAliveTimeout:   c.KeepAliveTimeout,
		HonorClientClose:   c.HonorClientClose,
		TCPKeepAlive:       c.TCPKeepAlive,
		CloseAfterResponse: !c.KeepAlive,
		WorkerTimeout:      c.WorkerTimeout,
		WorkerBoot:         c.WorkerBoot,
		StartWorkers:       c.PoolStartWorkers,
		MinSpare:           c.PoolMinSpare,
		MaxSpare:           c.PoolMaxSpare,
	}
}

// Listeners are the listeners `sim serve` prints for cfg, in order, and the runner waits for:
// the topology's (topology.Topology.Listeners), and "pool" when a front proxy stands on addr
// in front of the worker pool's connector.
func Listeners(cfg Config, externalStatic bool) []string {
	out := topology.Must(cfg.Topology).Listeners(externalStatic)
	if cfg.FrontProxy {
		out = append(out, "pool")
	}
	return out
}
