// Package watch is the socket-watching agent behind `sim watch`: it runs beside an app (same
// host, or the same network namespace as a container sidecar) and serves, on a listener of its
// own, the server-side socket census of the app's port — TCP sockets by state, counted by the
// netlink sampler of package sockets — the listening socket's accept queue, and the open file
// descriptors and RLIMIT_NOFILE of the process that owns the port. `sim run --watch` reads it as
// JSON ([Client]); Prometheus scrapes the same figures from /metrics.
//
// The agent is read-only: it reads the kernel's socket tables and /proc, runs no program,
// answers GET and HEAD only, bounds every response, and listens on loopback unless told
// otherwise, and then only behind a bearer token.
package watch

import (
	"strings"
	"time"

	"github.com/simdev/sim/simulator/sockets"
)

// SchemaVersion is the version of the JSON census. It changes only when a field changes
// meaning or goes away; added fields keep it.
const SchemaVersion = 1

// Census is one sample of a port, as GET /census serves it:
//
//	{
//	  "version": 1,
//	  "port": 8080,
//	  "time_unix_nano": 1767225600123456789,
//	  "duration_ns": 412345,
//	  "method": "netlink",
//	  "server": {"close_wait": 812, "established": 16, "fin_wait1": 0, ...},
//	  "client": {"established": 16, "fin_wait2": 0, ...},
//	  "listen": {"listening": true, "queue_length": 0, "queue_limit": 100},
//	  "process": {"pid": 4242, "found_by": "listener", "open_fds": 835, "max_fds": 4096},
//	  "process_error": ""
//	}
//
// time_unix_nano is the agent's wall clock when the sample started, in nanoseconds since the
// Unix epoch, and duration_ns how long the sample took: a reader on another machine compares
// them with its own clock around the request to estimate the skew (see [Reading.Offset]).
// server and client carry every TCP state but LISTEN, zeros included, under the kernel's
// names in lower case. process is null, and process_error says why, when no process could be
// read (none found, not permitted, gone).
type Census struct {
	// Version is SchemaVersion.
	Version int `json:"version"`
	// Port is the watched port.
	Port uint16 `json:"port"`
	// TimeUnixNano is the agent's wall clock at the start of the sample.
	TimeUnixNano int64 `json:"time_unix_nano"`
	// DurationNanos is how long the sample took: sockets, then the process.
	DurationNanos int64 `json:"duration_ns"`
	// Method is how the sockets were counted: "netlink" or "proc" (package sockets).
	Method string `json:"method"`
	// Server counts the sockets whose local port is Port (the app's side), by state.
	Server map[string]int `json:"server"`
	// Client counts the sockets whose remote port is Port (clients in the same network
	// namespace: the self-call's own client side), by state.
	Client map[string]int `json:"client"`
	// Listen describes the listening socket.
	Listen Listen `json:"listen"`
	// Process is the owner of the port, nil when unknown (see ProcessError).
	Process *Process `json:"process"`
	// ProcessError says why Process is nil.
	ProcessError string `json:"process_error,omitempty"`
	// SelfCall is the census of the app's calls to its own port (see SelfCalls), nil when
	// it could not be taken (see SelfCallError). Added in schema version 1.
	SelfCall *SelfCalls `json:"selfcall,omitempty"`
	// SelfCallError says why SelfCall is nil or incomplete.
	SelfCallError string `json:"selfcall_error,omitempty"`
}

// Listen is the state of the port's LISTEN socket(s).
type Listen struct {
	// Listening reports that a LISTEN socket exists on the port.
	Listening bool `json:"listening"`
	// QueueLength is the accept queue's length (the LISTEN socket's rqueue): connections
	// that completed the handshake and wait for accept(2).
	QueueLength int `json:"queue_length"`
	// QueueLimit is the accept queue's limit (wqueue): min(backlog, somaxconn), or -1
	// (sockets.QueueMaxUnknown) when the method cannot see it.
	QueueLimit int `json:"queue_limit"`
}

// Process is the process that owns the port's listening socket.
type Process struct {
	// PID is the process id, in the agent's PID namespace.
	PID int `json:"pid"`
	// FoundBy is FoundByFlag (given with --pid) or FoundByListener (found by the inode of
	// the listening socket).
	FoundBy string `json:"found_by"`
	// OpenFDs is the number of entries of /proc/PID/fd.
	OpenFDs int `json:"open_fds"`
	// MaxFDs is the soft RLIMIT_NOFILE ("Max open files" in /proc/PID/limits), -1 when
	// unlimited.
	MaxFDs int `json:"max_fds"`
}

// How a Process was found.
const (
	FoundByFlag     = "flag"
	FoundByListener = "listener"
)

// Time returns the agent's wall clock at the start of the sample.
func (c Census) Time() time.Time { return time.Unix(0, c.TimeUnixNano) }

// Duration returns how long the sample took.
func (c Census) Duration() time.Duration { return time.Duration(c.DurationNanos) }

// Counts returns the socket census as package sockets counts it, so that a timeline filled
// from an agent and one filled from the local kernel go through the same code. State names it
// does not know (from a newer agent) are ignored.
func (c Census) Counts() sockets.Counts {
	var n sockets.Counts
	for s := sockets.State(1); s < sockets.NumStates; s++ {
		if s == sockets.Listen {
			continue // a listener is Listening, not a count
		}
		n.Server[s] = c.Server[stateName(s)]
		n.Client[s] = c.Client[stateName(s)]
	}
	n.Listening = c.Listen.Listening
	n.AcceptQueue = c.Listen.QueueLength
	n.AcceptQueueMax = c.Listen.QueueLimit
	return n
}

// stateName is the name of a state in the census and in metric labels: the kernel's, in lower
// case ("close_wait"), as Prometheus labels are written.
func stateName(s sockets.State) string { return strings.ToLower(s.String()) }

// censusOf builds the socket part of a census from a sample.
func censusOf(port uint16, method string, c sockets.Counts) Census {
	out := Census{
		Version: SchemaVersion,
		Port:    port,
		Method:  method,
		Server:  make(map[string]int, sockets.NumStates-2),
		Client:  make(map[string]int, sockets.NumStates-2),
		Listen: Listen{
			Listening:   c.Listening,
			QueueLength: c.AcceptQueue,
			QueueLimit:  c.AcceptQueueMax,
		},
	}
	for s := sockets.State(1); s < sockets.NumStates; s++ {
		if s == sockets.Listen {
			continue
		}
		out.Server[stateName(s)] = c.Server[s]
		out.Client[stateName(s)] = c.Client[s]
	}
	return out
}
