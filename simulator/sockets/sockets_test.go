//go:build linux

package sockets

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestStateString(t *testing.T) {
	tests := []struct {
		s    State
		want string
	}{
		{Established, "ESTABLISHED"},
		{SynSent, "SYN_SENT"},
		{FinWait2, "FIN_WAIT2"},
		{CloseWait, "CLOSE_WAIT"},
		{Listen, "LISTEN"},
		{Closing, "CLOSING"},
		{0, "State(0)"},
		{12, "State(12)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("State(%d).String() = %q, want %q", uint8(tt.s), got, tt.want)
		}
	}
	// The values are the kernel's: a shifted constant would count every
	// socket under the wrong state.
	if Established != 1 || CloseWait != 8 || Listen != 10 || Closing != 11 || NumStates != Closing+1 {
		t.Errorf("state values differ from include/net/tcp_states.h")
	}
}

func TestCountsString(t *testing.T) {
	var c Counts
	c.Server[Established] = 7
	c.Server[CloseWait] = 4
	c.Client[FinWait2] = 4
	c.Listening = true
	c.AcceptQueue = 4
	c.AcceptQueueMax = 64
	want := "server{ESTABLISHED:7 CLOSE_WAIT:4} client{FIN_WAIT2:4} listening accept_queue=4/64"
	if got := c.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// samplers returns the methods to compare, each with what it reports for a
// given truth.
func samplers(t *testing.T) []struct {
	s      Sampler
	expect func(Counts) Counts
} {
	return []struct {
		s      Sampler
		expect func(Counts) Counts
	}{
		{newNetlink(t), func(c Counts) Counts { return c }},
		{NewProc(), forProc},
	}
}

// TestSample builds sockets in every state the self-call deadlock produces
// and checks that both methods count them exactly, over IPv4, IPv6 and a
// dual-stack listener (server side AF_INET6, clients AF_INET).
func TestSample(t *testing.T) {
	sc := scenario{open: 4, clientClosed: 3, serverClosed: 2, queued: 3, queuedClosed: 1}
	for _, st := range []stack{ipv4, ipv6, dualStack} {
		t.Run(st.name, func(t *testing.T) {
			skipWithoutIPv6(t, st)
			port := sc.build(t, newConns(t), st)
			for _, m := range samplers(t) {
				waitCounts(t, m.s, port, m.expect(sc.want()))
			}
			n := newNetlink(t)
			if _, err := n.Sample(port); err != nil {
				t.Fatal(err)
			}
			if n.msgs != sc.sockets() {
				t.Errorf("kernel returned %d sockets, the port has %d", n.msgs, sc.sockets())
			}
		})
	}
}

// TestSampleOtherPort puts two busy ports side by side: neither may count the
// other's sockets, and netlink must get only its port's sockets from the
// kernel (the filter runs there, not here).
func TestSampleOtherPort(t *testing.T) {
	c := newConns(t)
	a := scenario{open: 2, clientClosed: 3, queued: 1}
	b := scenario{open: 5, serverClosed: 1, queuedClosed: 2}
	portA := a.build(t, c, ipv4)
	portB := b.build(t, c, ipv4)
	for _, m := range samplers(t) {
		waitCounts(t, m.s, portA, m.expect(a.want()))
		waitCounts(t, m.s, portB, m.expect(b.want()))
	}
	n := newNetlink(t)
	for _, tt := range []struct {
		port uint16
		sc   scenario
	}{{portA, a}, {portB, b}} {
		if _, err := n.Sample(tt.port); err != nil {
			t.Fatal(err)
		}
		if n.msgs != tt.sc.sockets() {
			t.Errorf("port %d: kernel returned %d sockets, the port has %d", tt.port, n.msgs, tt.sc.sockets())
		}
	}
}

// TestSampleNotListening counts the clients of a port whose listener is gone:
// what a monitor sees after the server process died.
func TestSampleNotListening(t *testing.T) {
	c := newConns(t)
	ln, port := listen(t, ipv4)
	c.dial(ipv4, port)
	sv := c.accept(ln)
	ln.Close()
	c.close(sv)
	var want Counts
	want.Server[FinWait2] = 1
	want.Client[CloseWait] = 1
	for _, m := range samplers(t) {
		waitCounts(t, m.s, port, m.expect(want))
	}
}

// TestNetlinkCondFilter checks the filter for kernels older than 4.16
// (S_COND/D_COND instead of S_EQ/D_EQ) on this kernel, which takes both.
func TestNetlinkCondFilter(t *testing.T) {
	sc := scenario{open: 2, clientClosed: 2, queued: 1}
	c := newConns(t)
	port := sc.build(t, c, dualStack)
	other := scenario{open: 3}.build(t, c, ipv4)
	n := newNetlink(t)
	if n.cond {
		t.Skip("skip: this kernel lacks INET_DIAG_BC_S_EQ; the S_COND filter is already the default")
	}
	n.cond, n.req = true, n.req[:0]
	waitCounts(t, n, port, sc.want())
	if n.msgs != sc.sockets() {
		t.Errorf("kernel returned %d sockets, the port has %d", n.msgs, sc.sockets())
	}
	waitCounts(t, n, other, scenario{open: 3}.want())
}

func TestNew(t *testing.T) {
	s := New()
	defer s.Close()
	want := MethodNetlink
	if n, err := NewNetlink(); err != nil {
		want = MethodProc
		t.Logf("netlink unavailable here: %v", err)
	} else {
		n.Close()
	}
	if got := s.Method(); got != want {
		t.Errorf("New().Method() = %q, want %q", got, want)
	}
}

func TestSampleErrors(t *testing.T) {
	for _, m := range samplers(t) {
		t.Run(m.s.Method(), func(t *testing.T) {
			if _, err := m.s.Sample(0); err == nil {
				t.Error("Sample(0) succeeded")
			}
			if err := m.s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	n := newNetlink(t)
	n.Close()
	if _, err := n.Sample(80); err == nil {
		t.Error("Sample after Close succeeded")
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestNetlinkRecovers breaks a dump half-way (as a receive error would) and
// checks that the next Sample starts over on a fresh socket.
func TestNetlinkRecovers(t *testing.T) {
	sc := scenario{open: 300} // enough for a multi-part dump
	port := sc.build(t, newConns(t), ipv4)
	n := newNetlink(t)
	waitCounts(t, n, port, sc.want())
	// Leave a dump unread, then make the sampler see a failure.
	if _, err := writeRequest(n, port); err != nil {
		t.Fatal(err)
	}
	n.buf = n.buf[:16] // too small: the next receive reports truncation
	if _, err := n.Sample(port); err == nil {
		t.Fatal("Sample with a truncating buffer succeeded")
	}
	n.buf = n.buf[:cap(n.buf)]
	waitCounts(t, n, port, sc.want())
}

func writeRequest(n *Netlink, port uint16) (int, error) {
	req := n.request(unix.AF_INET, port, allStates)
	m, err := unix.Write(n.fd, req)
	if err != nil {
		return 0, fmt.Errorf("write request: %w", err)
	}
	return m, nil
}

func TestSampleAllocs(t *testing.T) {
	sc := scenario{open: 50, clientClosed: 50}
	port := sc.build(t, newConns(t), dualStack)
	n := newNetlink(t)
	waitCounts(t, n, port, sc.want())
	var err error
	allocs := testing.AllocsPerRun(20, func() {
		_, err = n.Sample(port)
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Netlink.Sample allocates %v times per call, want 0", allocs)
	}
}
