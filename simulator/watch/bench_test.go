//go:build linux

package watch

import (
	"context"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/simdev/sim/simulator/sockets"
)

// countsOnly hides a sampler's socket list, so that a Watcher takes the census as it did
// before self-calls: the baseline of BenchmarkWatcherSample.
type countsOnly struct{ sockets.Sampler }

// BenchmarkWatcherSample is the agent's cost per sample at 10,000 sockets on the port: 5,000
// connections whose clients shut down their side (server CLOSE_WAIT, client FIN_WAIT2), all held
// by this process, which also owns the listener — so every client socket is a self-call and the
// self-call census has 5,000 sockets to attribute. census-only is the sample as it was before
// self-calls (counts, then the owner's fds); selfcall lists the sockets with tcp_info and
// attributes them, their owners known from the sample before; selfcall-cold forgets the owners
// before each sample and reads the process's 10,000 fd links again, the cost of a sample in
// which every socket is new.
func BenchmarkWatcherSample(b *testing.B) {
	const n = 10000
	port := benchSockets(b, n)
	for _, mode := range []string{"census-only", "selfcall", "selfcall-cold"} {
		b.Run(mode, func(b *testing.B) {
			o := Options{Port: port, PID: os.Getpid()}
			if mode == "census-only" {
				o.Sampler = countsOnly{sockets.New()}
			}
			w, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			c, err := w.Sample(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if mode != "census-only" && (c.SelfCall == nil || c.SelfCall.Total() != n/2) {
				b.Fatalf("self-calls %+v (%s), want %d", c.SelfCall, c.SelfCallError, n/2)
			}
			b.ResetTimer()
			for b.Loop() {
				if mode == "selfcall-cold" {
					w.self.owners = nil
				}
				w.lastStart = w.lastStart.AddDate(-1, 0, 0) // no sharing: every call samples
				if _, err := w.Sample(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchSockets opens n sockets on a new port (n/2 connections whose clients shut down their
// sending side) and returns the port; everything is reset when b ends.
func benchSockets(b *testing.B, n int) uint16 {
	b.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	lim.Cur = lim.Max
	_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	if lim.Cur < uint64(n+100) {
		b.Skipf("needs %d file descriptors, RLIMIT_NOFILE is %d", n+100, lim.Cur)
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	var conns []*net.TCPConn
	b.Cleanup(func() {
		for _, c := range conns {
			c.SetLinger(0)
			c.Close()
		}
		ln.Close()
	})
	for range n / 2 {
		cl, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			b.Fatal(err)
		}
		sv, err := ln.AcceptTCP()
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, cl, sv)
		if err := cl.CloseWrite(); err != nil {
			b.Fatal(err)
		}
	}
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}
