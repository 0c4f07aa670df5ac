//go:build linux

package sockets

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// benchSizes are the numbers of sockets on the sampled port: half server
// side in CLOSE_WAIT, half client side in FIN_WAIT2, as a hung server with a
// few thousand timed-out clients has.
var benchSizes = []int{1000, 10000}

// benchFixture holds n sockets on one port: n/2 connections, accepted, whose
// clients shut down their sending side. Shutdown rather than close keeps the
// client sockets in FIN_WAIT2 for as long as the fixture lives (an orphaned
// FIN_WAIT2 socket dies after net.ipv4.tcp_fin_timeout, 60 s), at the price of
// one descriptor per socket.
type benchFixture struct {
	ln      *net.TCPListener
	port    uint16
	clients []*net.TCPConn
	servers []*net.TCPConn
}

// newBenchFixture builds a fixture of n sockets, or skips b when the process
// may not open that many descriptors.
func newBenchFixture(b *testing.B, n int) *benchFixture {
	b.Helper()
	need := uint64(n + 100) // the sockets, plus the listener, netlink, stdio, the ss pipes
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			b.Fatalf("raise RLIMIT_NOFILE soft limit to %d: %v", lim.Max, err)
		}
	}
	if lim.Cur < need {
		b.Skipf("skip n=%d: needs %d file descriptors, RLIMIT_NOFILE is %d (raise the hard limit: ulimit -Hn %d)", n, need, lim.Cur, need)
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	f := &benchFixture{ln: ln, port: uint16(ln.Addr().(*net.TCPAddr).Port)}
	for range n / 2 {
		cl, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			f.close()
			b.Fatalf("dial %d of %d: %v", len(f.clients)+1, n/2, err)
		}
		f.clients = append(f.clients, cl)
		sv, err := ln.AcceptTCP()
		if err != nil {
			f.close()
			b.Fatalf("accept: %v", err)
		}
		f.servers = append(f.servers, sv)
		if err := cl.CloseWrite(); err != nil {
			f.close()
			b.Fatalf("shutdown: %v", err)
		}
	}
	s := New()
	defer s.Close()
	waitCounts(b, s, f.port, f.want(b, s.Method()))
	return f
}

// want is what a sample of the fixture's port must count.
func (f *benchFixture) want(tb testing.TB, method string) Counts {
	var c Counts
	c.Server[CloseWait] = len(f.servers)
	c.Client[FinWait2] = len(f.clients)
	c.Listening = true
	c.AcceptQueueMax = somaxconn(tb)
	if method == MethodProc {
		c.AcceptQueueMax = QueueMaxUnknown
	}
	return c
}

// close resets every connection (SO_LINGER 0), so that none lingers in
// TIME_WAIT after the benchmark.
func (f *benchFixture) close() {
	for _, c := range f.servers {
		c.SetLinger(0)
		c.Close()
	}
	for _, c := range f.clients {
		c.SetLinger(0)
		c.Close()
	}
	f.ln.Close()
}

// somaxconn is the backlog limit of a Go listener: Go passes
// net.core.somaxconn to listen(2), which the kernel caps at the same value.
func somaxconn(tb testing.TB) int {
	tb.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		tb.Fatalf("read somaxconn: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatalf("parse somaxconn: %v", err)
	}
	return n
}

// benchSampler measures one Sample of the fixture's port per iteration, at
// each of benchSizes; the fixture is built before the timer starts.
func benchSampler(b *testing.B, open func(b *testing.B) Sampler) {
	for _, n := range benchSizes {
		f := newBenchFixture(b, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s := open(b)
			defer s.Close()
			want := f.want(b, s.Method())
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				got, err := s.Sample(f.port)
				if err != nil {
					b.Fatal(err)
				}
				if got != want {
					b.Fatalf("got %v, want %v", got, want)
				}
			}
		})
		f.close()
	}
}

func BenchmarkNetlink(b *testing.B) {
	benchSampler(b, func(b *testing.B) Sampler { return newNetlink(b) })
}

func BenchmarkProc(b *testing.B) {
	benchSampler(b, func(*testing.B) Sampler { return NewProc() })
}

// BenchmarkSS runs `ss -Htan state close-wait sport = :P` per iteration and
// counts its lines: what a shell script watching the server would do.
func BenchmarkSS(b *testing.B) {
	ss, err := exec.LookPath("ss")
	if err != nil {
		b.Skipf("skip: ss (iproute2) not installed: %v", err)
	}
	for _, n := range benchSizes {
		f := newBenchFixture(b, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			args := []string{"-Htan", "state", "close-wait", "sport", "=", ":" + strconv.Itoa(int(f.port))}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				out, err := exec.Command(ss, args...).Output()
				if err != nil {
					b.Fatalf("ss %v: %v", args, err)
				}
				if got := bytes.Count(out, []byte{'\n'}); got != len(f.servers) {
					b.Fatalf("ss counted %d CLOSE_WAIT sockets, want %d", got, len(f.servers))
				}
			}
		})
		f.close()
	}
}
