//go:build linux

package sockets

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// TestSampleSockets lists, on each stack, a connection left in the accept queue, an accepted
// one whose client sent a request that was not answered, and an accepted one that was
// answered: each end must name the other, the unaccepted server side must have no inode, the
// client ends' inodes must be the test's own fds, and only the unanswered client must be
// awaiting a reply.
func TestSampleSockets(t *testing.T) {
	for _, st := range []stack{ipv4, ipv6, dualStack} {
		t.Run(st.name, func(t *testing.T) {
			skipWithoutIPv6(t, st)
			n := newNetlink(t)
			c := newConns(t)
			ln, port := listen(t, st)
			asked := c.dial(st, port)
			askedSrv := c.accept(ln)
			answered := c.dial(st, port)
			answeredSrv := c.accept(ln)
			// reused: answered, then a second request sent at once (in the jiffy the answer
			// came in, as a pooled connection handed straight to the next caller does) and
			// left unanswered.
			reused := c.dial(st, port)
			reusedSrv := c.accept(ln)
			write(t, reused, "GET")
			read(t, reusedSrv, 3)
			write(t, reusedSrv, "200")
			read(t, reused, 3)
			write(t, reused, "GET")
			read(t, reusedSrv, 3)      // read: nothing left unread on the server side
			queued := c.dial(st, port) // never accepted
			write(t, asked, "GET")
			write(t, answered, "GET")
			read(t, answeredSrv, 3)
			write(t, answeredSrv, "200")
			read(t, answered, 3)
			// askedSrv keeps the request unread: its rqueue is 3.
			_ = askedSrv

			byLocal := map[uint16]Socket{}
			deadline := time.Now().Add(settleTimeout)
			for {
				_, list, err := n.SampleSockets(port, nil)
				if err != nil {
					t.Fatalf("SampleSockets: %v", err)
				}
				clear(byLocal)
				servers := 0
				for _, s := range list {
					if s.Local.Port() != port {
						byLocal[s.Local.Port()] = s
					} else if s.State != Listen {
						servers++
					}
				}
				// The reused client counts as awaiting once its peer's delayed ACK of the
				// second request came (40 ms to 200 ms), or at once when the request left in a
				// later jiffy than the answer.
				if len(byLocal) == 4 && servers == 4 && byLocal[localPort(asked)].DataSegsOut > 0 && byLocal[localPort(answered)].DataSegsIn > 0 &&
					byLocal[localPort(reused)].AwaitingReply() {
					checkEnds(t, list, port, localPort(asked), localPort(reused))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %v: %d client and %d server sockets, want 4 and 4, and the reused client awaiting: %+v", settleTimeout, len(byLocal), servers, list)
				}
				time.Sleep(time.Millisecond)
			}
			own := ownInodes(t)
			for name, conn := range map[string]interface{ LocalAddr() net.Addr }{"queued": queued, "asked": asked, "answered": answered, "reused": reused} {
				s := byLocal[uint16(conn.LocalAddr().(*net.TCPAddr).Port)]
				if !own[s.Inode] {
					t.Errorf("%s client: inode %d is not one of this process's sockets", name, s.Inode)
				}
				if want := name == "asked" || name == "reused"; s.AwaitingReply() != want {
					t.Errorf("%s client: AwaitingReply() = %v, want %v (%+v)", name, s.AwaitingReply(), want, s)
				}
				if s.Unanswered() {
					t.Errorf("%s client: Unanswered() = true, want false: a client sent its request, it received none", name)
				}
			}
		})
	}
}

// checkEnds checks that every server-side socket's remote end is a client socket of the list,
// that the one in the accept queue has no inode while the accepted ones have, and that only
// the server sides of askedPort's and reusedPort's connections hold an unanswered request.
func checkEnds(t *testing.T, list []Socket, port, askedPort, reusedPort uint16) {
	t.Helper()
	clients := map[netip.AddrPort]Socket{}
	for _, s := range list {
		if s.Remote.Port() == port {
			clients[s.Local] = s
		}
	}
	noInode := 0
	for _, s := range list {
		if s.Local.Port() != port || s.State == Listen {
			continue
		}
		// The asked client's and the reused one's server sides have a request and no answer
		// (the reused one's times may tie with its answer's: the segment counts tell); the
		// answered one replied, the queued one's client sent nothing.
		if want := s.Remote.Port() == askedPort || s.Remote.Port() == reusedPort; s.Unanswered() != want {
			t.Errorf("server side of %v: Unanswered() = %v, want %v (%+v)", s.Remote, s.Unanswered(), want, s)
		}
		cl, ok := clients[s.Remote]
		if !ok {
			t.Errorf("server socket %v ← %v: no client socket %v in the list", s.Local, s.Remote, s.Remote)
			continue
		}
		if cl.Remote != s.Local {
			t.Errorf("client %v names %v as its remote end, want %v", cl.Local, cl.Remote, s.Local)
		}
		if s.Inode == 0 {
			noInode++
		}
	}
	if noInode != 1 {
		t.Errorf("%d server sockets without an inode, want 1 (the one in the accept queue)", noInode)
	}
}

func localPort(c *net.TCPConn) uint16 { return uint16(c.LocalAddr().(*net.TCPAddr).Port) }

func write(t *testing.T, c *net.TCPConn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func read(t *testing.T, c *net.TCPConn, n int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(settleTimeout))
	if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
		t.Fatalf("read: %v", err)
	}
}

// ownInodes returns the socket inodes of this process's fds.
func ownInodes(t *testing.T) map[uint32]bool {
	t.Helper()
	dir := "/proc/self/fd/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list fds: %v", err)
	}
	own := map[uint32]bool{}
	for _, e := range ents {
		target, err := os.Readlink(dir + e.Name())
		if err != nil {
			continue
		}
		var ino uint64
		if _, err := fmt.Sscanf(target, "socket:[%d]", &ino); err == nil {
			own[uint32(ino)] = true
		}
	}
	return own
}
