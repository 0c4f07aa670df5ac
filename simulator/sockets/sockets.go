// Package sockets counts the TCP sockets of one port by state, the way
// `ss 'sport = :P or dport = :P'` would, but cheaply enough to sample many
// times a second while a server hangs with thousands of sockets in CLOSE_WAIT.
//
// Two methods count the same thing: [Netlink] asks the kernel's sock_diag
// interface for the port's sockets only (a few milliseconds for 10,000 sockets),
// and [Proc] parses /proc/net/tcp and /proc/net/tcp6 (cost grows with every
// socket of the network namespace). [New] picks netlink and falls back to /proc.
package sockets

import (
	"strconv"
	"strings"
)

// State is a kernel TCP state (values as in include/net/tcp_states.h:
// ESTABLISHED=1 ... CLOSING=11).
type State uint8

// The TCP states, numbered as in include/net/tcp_states.h.
const (
	Established State = iota + 1
	SynSent
	SynRecv
	FinWait1
	FinWait2
	TimeWait
	Close
	CloseWait
	LastAck
	Listen
	Closing
)

// NumStates is the length of the per-state arrays in [Counts]: one past the
// largest State, so that a State indexes them directly (index 0 stays unused).
const NumStates = 12

var stateNames = [NumStates]string{
	Established: "ESTABLISHED",
	SynSent:     "SYN_SENT",
	SynRecv:     "SYN_RECV",
	FinWait1:    "FIN_WAIT1",
	FinWait2:    "FIN_WAIT2",
	TimeWait:    "TIME_WAIT",
	Close:       "CLOSE",
	CloseWait:   "CLOSE_WAIT",
	LastAck:     "LAST_ACK",
	Listen:      "LISTEN",
	Closing:     "CLOSING",
}

// String returns the kernel's name of the state without its TCP_ prefix
// ("ESTABLISHED", "CLOSE_WAIT", ...), or "State(n)" for a value outside 1..11.
func (s State) String() string {
	if s > 0 && int(s) < NumStates {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// QueueMaxUnknown is the AcceptQueueMax of a listening port when the method
// cannot see the backlog limit: /proc/net/tcp prints a listener's send queue
// (always 0) where inet_diag reports the limit.
const QueueMaxUnknown = -1

// Counts is one sample of the sockets of a port.
//
// A socket whose local and remote ports are both the port (a self-connection)
// is counted on both sides.
type Counts struct {
	// Server counts the sockets whose LOCAL port is the port (the server
	// side), by state; LISTEN is excluded (see Listening).
	Server [NumStates]int
	// Client counts the sockets whose REMOTE port is the port (clients
	// connected to it), by state.
	Client [NumStates]int
	// Listening reports that a LISTEN socket exists on the port.
	Listening bool
	// AcceptQueue is the LISTEN socket's rqueue: connections that completed
	// the handshake and wait in the kernel for accept(2); they hold no file
	// descriptor. Summed over the listeners of the port (SO_REUSEPORT, or one
	// per address family).
	AcceptQueue int
	// AcceptQueueMax is the LISTEN socket's wqueue: the backlog limit,
	// min(listen(2) backlog, net.core.somaxconn), summed like AcceptQueue.
	// It is QueueMaxUnknown when the port listens but the method cannot see
	// the limit (Proc), and 0 when nothing listens.
	AcceptQueueMax int
}

// Sampler counts the sockets of a port. Safe for use by one goroutine at a
// time.
type Sampler interface {
	// Sample counts the TCP sockets (IPv4 and IPv6) whose local or remote
	// port is port. Port 0 is an error.
	Sample(port uint16) (Counts, error)
	// Method names the way the sampler counts: MethodNetlink or MethodProc.
	Method() string
	// Close releases the sampler's resources; Sample must not be called after.
	Close() error
}

// Method names returned by Sampler.Method.
const (
	MethodNetlink = "netlink"
	MethodProc    = "proc"
)

// New returns a netlink Sampler, or a /proc Sampler when a netlink sock_diag
// socket cannot be opened or the kernel refuses the first dump (EPERM, EACCES,
// EPROTONOSUPPORT in some sandboxes). Call NewNetlink to learn why netlink is
// unusable.
func New() Sampler {
	if n, err := NewNetlink(); err == nil {
		return n
	}
	return NewProc()
}

// String formats the non-zero counts, e.g.
// "server{ESTABLISHED:7 CLOSE_WAIT:4} client{ESTABLISHED:7 FIN_WAIT2:4} listening accept_queue=4/64".
func (c Counts) String() string {
	var b strings.Builder
	b.WriteString("server{")
	writeStates(&b, &c.Server)
	b.WriteString("} client{")
	writeStates(&b, &c.Client)
	b.WriteString("}")
	if c.Listening {
		b.WriteString(" listening")
	}
	if c.Listening || c.AcceptQueue != 0 || c.AcceptQueueMax != 0 {
		b.WriteString(" accept_queue=" + strconv.Itoa(c.AcceptQueue) + "/" + strconv.Itoa(c.AcceptQueueMax))
	}
	return b.String()
}

func writeStates(b *strings.Builder, n *[NumStates]int) {
	sep := ""
	for s, v := range n {
		if v != 0 {
			b.WriteString(sep + State(s).String() + ":" + strconv.Itoa(v))
			sep = " "
		}
	}
}

// count adds one socket to c. It is shared by both methods so that they
// cannot disagree on what a socket counts as.
func (c *Counts) count(state State, sport, dport, port uint16, rqueue, wqueue int) {
	if state == Listen {
		if sport == port {
			c.Listening = true
			c.AcceptQueue += rqueue
			c.AcceptQueueMax += wqueue
		}
		return
	}
	if state == 0 || int(state) >= NumStates {
		return
	}
	if sport == port {
		c.Server[state]++
	}
	if dport == port {
		c.Client[state]++
	}
}

var (
	_ Sampler = (*Netlink)(nil)
	_ Sampler = (*Proc)(nil)
)
