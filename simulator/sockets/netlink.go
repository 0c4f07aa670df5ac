//go:build linux

package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Layout of the sock_diag messages (include/uapi/linux/inet_diag.h).
const (
	// reqV2Len is sizeof(struct inet_diag_req_v2): family, protocol, ext,
	// pad, states u32, then a 48-byte struct inet_diag_sockid.
	reqV2Len = 56
	// diagMsgLen is sizeof(struct inet_diag_msg), the head of every answer.
	diagMsgLen = 72
	// Offsets inside struct inet_diag_msg.
	msgState  = 1
	msgSport  = 4  // __be16 id.idiag_sport
	msgDport  = 6  // __be16 id.idiag_dport
	msgSrc    = 8  // __be32 id.idiag_src[4]
	msgDst    = 24 // __be32 id.idiag_dst[4]
	msgRqueue = 56
	msgWqueue = 60
	msgInode  = 68
	// inetDiagInfo is INET_DIAG_INFO: the answer attribute that carries struct tcp_info,
	// asked for with bit 1<<(INET_DIAG_INFO-1) of the request's idiag_ext.
	inetDiagInfo = 2
	// Offsets inside struct tcp_info (include/uapi/linux/tcp.h).
	infoLastDataSent = 44
	infoLastDataRecv = 52
	infoLastAckRecv  = 56
	infoDataSegsIn   = 152
	infoDataSegsOut  = 156
	// infoMinLen is the shortest tcp_info that holds the data segment counts (Linux 4.6).
	infoMinLen = infoDataSegsOut + 4
	// infoTimesLen is the shortest that holds the last-data times.
	infoTimesLen = infoLastAckRecv + 4
	// inetDiagReqBytecode is INET_DIAG_REQ_BYTECODE, the request attribute
	// that carries the filter program.
	inetDiagReqBytecode = 1
	// rtaHdrLen is sizeof(struct rtattr).
	rtaHdrLen = 4
	// reqMaxLen bounds the whole request: netlink header, inet_diag_req_v2,
	// bytecode attribute.
	reqMaxLen = unix.NLMSG_HDRLEN + reqV2Len + rtaHdrLen + maxFilterLen
)

const (
	// allStates is the idiag_states mask of every TCP state 1..11. The kernel
	// adds TCP_NEW_SYN_RECV by itself when SYN_RECV is asked for.
	allStates = 1<<NumStates - 2
	// probeStates asks for TCP_CLOSE only: closed sockets are never in the
	// kernel's hash tables, so the probe dump answers nothing but still
	// proves that the kernel accepts the request and the filter program.
	probeStates = 1 << Close
	// recvBufLen is the receive buffer. The kernel fills one dump skb of at
	// most 32 KiB per recvmsg (net/netlink/af_netlink.c caps max_recvmsg_len),
	// so 64 KiB never truncates.
	recvBufLen = 64 << 10
	// recvTimeout bounds one recvmsg: a dump of 100,000 sockets takes tens of
	// milliseconds, so a silent kernel for this long is a bug, not load.
	recvTimeout = 5 * time.Second
)

// Netlink counts sockets with NETLINK_SOCK_DIAG dumps (SOCK_DIAG_BY_FAMILY,
// inet_diag_req_v2), one per address family. The kernel does the filtering:
// the request's state mask and a bytecode port filter
// (sport == P || dport == P) make it answer with the port's sockets only, so
// a sample costs little more than the kernel's walk of its socket hash.
//
// One socket and one receive buffer serve every Sample, which allocates
// nothing. A Netlink is safe for use by one goroutine at a time.
type Netlink struct {
	fd       int
	cond     bool // the kernel lacks INET_DIAG_BC_S_EQ: filter with S_COND
	families []uint8
	seq      uint32
	req      []byte
	reqPort  uint16
	buf      []byte
	// msgs is the number of sockets the kernel returned in the last Sample;
	// tests use it to prove the filtering happens in the kernel.
	msgs int
	// detail, when not nil, receives every socket of the dump with its tcp_info
	// (SampleSockets); Sample leaves it nil and asks for no tcp_info.
	detail *[]Socket
}

// NewNetlink opens a NETLINK_SOCK_DIAG socket and makes a probe dump. It fails
// when the socket cannot be opened or the kernel refuses the dump (EPERM,
// EACCES, EPROTONOSUPPORT, ...); New then falls back to Proc. No privilege is
// needed on a normal Linux system.
func NewNetlink() (*Netlink, error) {
	n := &Netlink{
		fd:       -1,
		families: []uint8{unix.AF_INET, unix.AF_INET6},
		req:      make([]byte, 0, reqMaxLen),
		buf:      make([]byte, recvBufLen),
	}
	if err := n.open(); err != nil {
		return nil, err
	}
	if err := n.probe(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Netlink) open() error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return fmt.Errorf("open netlink sock_diag socket: %w", err)
	}
	tv := unix.NsecToTimeval(recvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return fmt.Errorf("set netlink receive timeout: %w", err)
	}
	n.fd = fd
	return nil
}

// probe checks that the kernel answers a filtered dump for each family. A
// kernel older than 4.16 rejects INET_DIAG_BC_S_EQ with EINVAL: the probe then
// switches to the S_COND form of the same filter. A kernel without IPv6
// diagnostics drops AF_INET6.
func (n *Netlink) probe() error {
	var c Counts
	err := n.dump(unix.AF_INET, 0, probeStates, &c)
	if errors.Is(err, unix.EINVAL) {
		n.cond = true
		n.req = n.req[:0]
		err = n.dump(unix.AF_INET, 0, probeStates, &c)
	}
	if err != nil {
		return fmt.Errorf("probe netlink sock_diag: %w", err)
	}
	if err := n.dump(unix.AF_INET6, 0, probeStates, &c); err != nil {
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EAFNOSUPPORT) {
			return fmt.Errorf("probe netlink sock_diag (IPv6): %w", err)
		}
		n.families = n.families[:1]
	}
	return nil
}

// Sample counts the TCP sockets of port over IPv4 and IPv6.
func (n *Netlink) Sample(port uint16) (Counts, error) {
	if port == 0 {
		return Counts{}, errors.New("sample sockets: port 0")
	}
	n.detail = nil
	return n.sample(port)
}

// SampleSockets counts the TCP sockets of port like Sample and appends each of them to buf
// with its tcp_info. Asking the kernel for tcp_info makes each answer about 3 times longer
// (72 bytes of inet_diag_msg, then a 248-byte tcp_info attribute).
func (n *Netlink) SampleSockets(port uint16, buf []Socket) (Counts, []Socket, error) {
	if port == 0 {
		return Counts{}, buf, errors.New("sample sockets: port 0")
	}
	start := len(buf)
	n.detail = &buf
	c, err := n.sample(port)
	n.detail = nil
	if err != nil {
		return Counts{}, buf[:start], err // a dump that failed half-way lists some sockets only
	}
	return c, buf, nil
}

// sample runs the dumps of port, one per family.
func (n *Netlink) sample(port uint16) (Counts, error) {
	if n.fd < 0 {
		if n.buf == nil {
			return Counts{}, errors.New("sample sockets: netlink sampler closed")
		}
		// A previous dump failed half-way: its rest would still be queued on
		// the old socket, so it was closed; start afresh.
		if err := n.open(); err != nil {
			return Counts{}, err
		}
	}
	var c Counts
	n.msgs = 0
	for _, family := range n.families {
		if err := n.dump(family, port, allStates, &c); err != nil {
			unix.Close(n.fd)
			n.fd = -1
			return Counts{}, fmt.Errorf("sample sockets of port %d: %w", port, err)
		}
	}
	return c, nil
}

// Method returns MethodNetlink.
func (n *Netlink) Method() string { return MethodNetlink }

// Close closes the netlink socket.
func (n *Netlink) Close() error {
	n.buf = nil
	if n.fd < 0 {
		return nil
	}
	err := unix.Close(n.fd)
	n.fd = -1
	return err
}

// request builds (or updates in place) the dump request for family, port and
// states, and returns it.
func (n *Netlink) request(family uint8, port uint16, states uint32) []byte {
	if len(n.req) == 0 || n.reqPort != port {
		req := n.req[:unix.NLMSG_HDRLEN+reqV2Len]
		clear(req)
		req = append(req, 0, 0, 0, 0) // rtattr header, filled below
		req = appendPortFilter(req, port, n.cond)
		ne := binary.NativeEndian
		ne.PutUint32(req[0:], uint32(len(req)))                   // nlmsg_len
		ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)           // nlmsg_type
		ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP) // nlmsg_flags
		req[unix.NLMSG_HDRLEN+1] = unix.IPPROTO_TCP               // sdiag_protocol
		a := req[unix.NLMSG_HDRLEN+reqV2Len:]
		ne.PutUint16(a[0:], uint16(len(a)))      // rta_len
		ne.PutUint16(a[2:], inetDiagReqBytecode) // rta_type
		n.req = req
		n.reqPort = port
	}
	n.seq++
	binary.NativeEndian.PutUint32(n.req[8:], n.seq)
	n.req[unix.NLMSG_HDRLEN] = family
	var ext byte
	if n.detail != nil {
		ext = 1 << (inetDiagInfo - 1)
	}
	n.req[unix.NLMSG_HDRLEN+2] = ext // idiag_ext
	binary.NativeEndian.PutUint32(n.req[unix.NLMSG_HDRLEN+4:], states)
	return n.req
}

// dump sends one dump request and counts the answers into c until
// NLMSG_DONE.
func (n *Netlink) dump(family uint8, port uint16, states uint32, c *Counts) error {
	req := n.request(family, port, states)
	for {
		_, err := unix.Write(n.fd, req)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("send sock_diag request: %w", err)
		}
		break
	}
	ne := binary.NativeEndian
	for {
		m, err := n.recv()
		if err != nil {
			return err
		}
		b := n.buf[:m]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(ne.Uint32(b[0:]))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("malformed netlink message: length %d of %d bytes", l, len(b))
			}
			typ, seq := ne.Uint16(b[4:]), ne.Uint32(b[8:])
			msg := b[unix.NLMSG_HDRLEN:l]
			if adv := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1); adv < len(b) {
				b = b[adv:]
			} else {
				b = nil
			}
			if seq != n.seq {
				continue // not ours: an answer to an earlier request
			}
			switch typ {
			case unix.NLMSG_DONE:
				// The payload is the dump's own error, 0 when it completed.
				if len(msg) >= 4 {
					if e := int32(ne.Uint32(msg)); e < 0 {
						return fmt.Errorf("sock_diag dump: %w", unix.Errno(-e))
					}
				}
				return nil
			case unix.NLMSG_ERROR:
				if len(msg) < 4 {
					return errors.New("malformed netlink error message")
				}
				if e := int32(ne.Uint32(msg)); e < 0 {
					return fmt.Errorf("sock_diag request: %w", unix.Errno(-e))
				}
			case unix.SOCK_DIAG_BY_FAMILY:
				if len(msg) < diagMsgLen {
					return fmt.Errorf("short inet_diag_msg: %d bytes", len(msg))
				}
				n.msgs++
				be := binary.BigEndian
				c.count(State(msg[msgState]), be.Uint16(msg[msgSport:]), be.Uint16(msg[msgDport:]), port,
					int(ne.Uint32(msg[msgRqueue:])), int(ne.Uint32(msg[msgWqueue:])))
				if n.detail != nil {
					*n.detail = append(*n.detail, parseSocket(msg))
				}
			}
		}
	}
}

// recv reads one datagram into n.buf without allocating (unix.Recvfrom
// allocates the sender's address on every call).
func (n *Netlink) recv() (int, error) {
	for {
		r, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(n.fd),
			uintptr(unsafe.Pointer(&n.buf[0])), uintptr(len(n.buf)), unix.MSG_TRUNC, 0, 0)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			return 0, fmt.Errorf("receive sock_diag answer: no answer within %v: %w", recvTimeout, errno)
		case errno != 0:
			return 0, fmt.Errorf("receive sock_diag answer: %w", errno)
		case int(r) > len(n.buf):
			return 0, fmt.Errorf("receive sock_diag answer: %d-byte message truncated to %d", r, len(n.buf))
		}
		return int(r), nil
	}
}

// parseSocket reads one inet_diag_msg and its attributes into a Socket.
func parseSocket(msg []byte) Socket {
	ne, be := binary.NativeEndian, binary.BigEndian
	addr := func(off int) netip.Addr {
		if msg[0] == unix.AF_INET {
			return netip.AddrFrom4([4]byte(msg[off : off+4]))
		}
		return normalize(netip.AddrFrom16([16]byte(msg[off : off+16])))
	}
	s := Socket{
		State:  State(msg[msgState]),
		Local:  netip.AddrPortFrom(addr(msgSrc), be.Uint16(msg[msgSport:])),
		Remote: netip.AddrPortFrom(addr(msgDst), be.Uint16(msg[msgDport:])),
		Inode:  ne.Uint32(msg[msgInode:]),
		RQueue: int(ne.Uint32(msg[msgRqueue:])),
		WQueue: int(ne.Uint32(msg[msgWqueue:])),
	}
	// Attributes follow the message, each an rtattr (length, type) padded to 4 bytes.
	for a := msg[diagMsgLen:]; len(a) >= rtaHdrLen; {
		l := int(ne.Uint16(a[0:]))
		if l < rtaHdrLen || l > len(a) {
			break
		}
		if ne.Uint16(a[2:]) == inetDiagInfo {
			info := a[rtaHdrLen:l]
			if len(info) >= infoTimesLen {
				s.Info = true
				s.LastDataSent = time.Duration(ne.Uint32(info[infoLastDataSent:])) * time.Millisecond
				s.LastDataRecv = time.Duration(ne.Uint32(info[infoLastDataRecv:])) * time.Millisecond
				s.LastAckRecv = time.Duration(ne.Uint32(info[infoLastAckRecv:])) * time.Millisecond
			}
			if len(info) >= infoMinLen {
				s.DataSegsIn = ne.Uint32(info[infoDataSegsIn:])
				s.DataSegsOut = ne.Uint32(info[infoDataSegsOut:])
			}
		}
		adv := (l + 3) &^ 3
		if adv >= len(a) {
			break
		}
		a = a[adv:]
	}
	return s
}
