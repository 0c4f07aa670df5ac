package sockets

import (
	"net/netip"
	"time"
)

// Socket is one TCP socket of a port with what the kernel tells of it beyond its state: its
// addresses, the inode that ties it to a process's file descriptor, its queues and, when the
// kernel sent its tcp_info, when data last moved each way. [Netlink.SampleSockets] reports it;
// the watch agent uses it to find an app's calls to its own port.
type Socket struct {
	// State is the TCP state.
	State State
	// Local and Remote are the socket's addresses. An IPv4 address is always in its plain
	// 4-byte form, also when an IPv6 dual-stack socket carries it as ::ffff:a.b.c.d, so that
	// the two ends of one connection name each other whatever their families.
	Local, Remote netip.AddrPort
	// Inode is the socket's inode, the N of the "socket:[N]" link in /proc/PID/fd; 0 for a
	// socket no process holds: a connection in a listener's accept queue (not yet accepted)
	// and a closed socket the kernel still finishes (FIN_WAIT2, TIME_WAIT of an orphan).
	Inode uint32
	// RQueue and WQueue are the bytes not yet read by the process and not yet acknowledged
	// by the peer (for a LISTEN socket: the accept queue's length and limit).
	RQueue, WQueue int
	// Info reports that the fields below were filled from the socket's tcp_info.
	Info bool
	// LastDataSent and LastDataRecv are how long ago the socket last sent and received data
	// (tcpi_last_data_sent, tcpi_last_data_recv; millisecond resolution, jiffies in the kernel).
	LastDataSent, LastDataRecv time.Duration
	// LastAckRecv is how long ago the socket last received an acknowledgement
	// (tcpi_last_ack_recv): any segment from the peer.
	LastAckRecv time.Duration
	// DataSegsOut and DataSegsIn count the segments that carried data each way
	// (tcpi_data_segs_out, tcpi_data_segs_in; Linux 4.6 and later, zero before).
	DataSegsOut, DataSegsIn uint32
}

// maxDelayedAck bounds how long after a segment its peer's acknowledgement comes when the
// peer has nothing to send: Linux delays an ACK 40 ms to 200 ms (TCP_DELACK_MIN, _MAX), plus a
// jiffy and a loopback round trip. A TCP keepalive probe's ACK comes a keepalive interval
// (seconds) after the last data, far beyond it.
const maxDelayedAck = 250 * time.Millisecond

// AwaitingReply reports whether the socket, as a client, has sent data and received none
// since: a request sent and not yet answered. A socket that never received data after
// sending some is awaiting; a kept-alive one is when its last send is more recent than its
// last receive. The kernel keeps those times in jiffies (1 to 4 ms), and a pooled connection
// handed straight to the next caller sends its next request in the jiffy its last answer came
// in — exactly what happens when callers queue for the pool in a deadlock. Equal times are
// then told apart by the peer's acknowledgement: a peer that does not answer acknowledges the
// request alone, a delayed ACK after the last data received and within maxDelayedAck of the
// send; an idle connection gets no segment after the answer. Equal times without such an ACK
// count as answered (an idle connection whose last exchange was quick). It is false without
// tcp_info or outside ESTABLISHED.
func (s Socket) AwaitingReply() bool {
	if !s.Info || s.State != Established || s.DataSegsOut == 0 {
		return false
	}
	switch {
	case s.DataSegsIn == 0 || s.LastDataSent < s.LastDataRecv:
		return true
	case s.LastDataSent > s.LastDataRecv:
		return false
	}
	return s.LastAckRecv < s.LastDataRecv && s.LastDataSent-s.LastAckRecv <= maxDelayedAck
}

// Unanswered reports whether the socket, as a server, has received data and sent none since: a
// request in the server's hands (queued, read, or being worked on) and not yet answered.
// ESTABLISHED and CLOSE_WAIT (the client gave up; the server still has the request) count; a
// socket still in the listener's accept queue counts too, since the kernel has received its
// request for it. Equal times (one jiffy) are told apart by the segment counts: a kept-alive
// client that sends its next request as soon as its answer came (a load generator's
// connection reused at once) has sent one data segment more than it got back, while a request
// answered within a jiffy (a static file) has as many answers as requests. Measured on the
// quick ramp: counted as answered, such requests made the count dip by up to half every
// second or so (7 in flight with 13 workers busy).
func (s Socket) Unanswered() bool {
	if !s.Info || (s.State != Established && s.State != CloseWait) || s.DataSegsIn == 0 {
		return false
	}
	switch {
	case s.DataSegsOut == 0 || s.LastDataRecv < s.LastDataSent:
		return true
	case s.LastDataRecv > s.LastDataSent:
		return false
	}
	return s.DataSegsIn > s.DataSegsOut
}

// Detailer is a Sampler that can also list the port's sockets one by one.
type Detailer interface {
	Sampler
	// SampleSockets counts the port's sockets like Sample and appends each of them (LISTEN
	// included) to buf, with its tcp_info, returning the extended slice.
	SampleSockets(port uint16, buf []Socket) (Counts, []Socket, error)
}

var _ Detailer = (*Netlink)(nil)

// normalize returns a in the form Socket documents: an IPv4-mapped IPv6 address unmapped.
func normalize(a netip.Addr) netip.Addr { return a.Unmap() }
