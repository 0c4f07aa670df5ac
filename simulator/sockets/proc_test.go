package sockets

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

// testdata/tcp and testdata/tcp6 were read from /proc/net while port 41635
// had a dual-stack listener (bound to ::ffff:127.0.0.1) with one connection
// accepted and open, one accepted whose client closed, and one in the accept
// queue; and port 41317 an IPv6 listener with one connection.
const (
	goldenPort      = 41635
	goldenOtherPort = 41317
)

func TestParseTCPGolden(t *testing.T) {
	var dual, other Counts
	dual.Server[Established] = 2
	dual.Server[CloseWait] = 1
	dual.Client[Established] = 2
	dual.Client[FinWait2] = 1
	dual.Listening = true
	dual.AcceptQueue = 1
	other.Server[Established] = 1
	other.Client[Established] = 1
	other.Listening = true

	tests := []struct {
		name string
		port uint16
		want Counts
	}{
		{"dual-stack", goldenPort, dual},
		{"ipv6", goldenOtherPort, other},
		{"unused port", 9, Counts{}},
		{"listener of another process", 2024, Counts{Listening: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, read := range []struct {
				name string
				wrap func(*bytes.Reader) interface{ Read([]byte) (int, error) }
				buf  int
			}{
				{"whole", func(r *bytes.Reader) interface{ Read([]byte) (int, error) } { return r }, procBufLen},
				// One byte per read with a buffer of two lines: every line
				// is split across reads.
				{"byte by byte", func(r *bytes.Reader) interface{ Read([]byte) (int, error) } { return iotest.OneByteReader(r) }, 400},
			} {
				var got Counts
				for _, name := range []string{"testdata/tcp", "testdata/tcp6"} {
					data, err := os.ReadFile(name)
					if err != nil {
						t.Fatal(err)
					}
					if err := parseTCP(read.wrap(bytes.NewReader(data)), make([]byte, read.buf), tt.port, &got); err != nil {
						t.Fatalf("%s, %s: %v", name, read.name, err)
					}
				}
				if got != tt.want {
					t.Errorf("%s:\n got %v\nwant %v", read.name, got, tt.want)
				}
			}
		})
	}
}

func TestParseTCPMalformed(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue\n"
	tests := []struct {
		name, line string
	}{
		{"no port", "   0: 0100007F 0100007F:A2A3 01 00000000:00000000"},
		{"bad hex port", "   0: 0100007F:A2G3 0100007F:A2A3 01 00000000:00000000"},
		{"port too long", "   0: 0100007F:1A2A3 0100007F:A2A3 01 00000000:00000000"},
		{"no state", "   0: 0100007F:A2A3 0100007F:A2A3"},
		{"listener without queues", "   0: 0100007F:A2A3 00000000:0000 0A"},
		{"line longer than the buffer", "   0: " + strings.Repeat("0", 3*procTCPLineMax)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Counts
			err := parseTCP(strings.NewReader(header+tt.line+"\n"), make([]byte, 2*procTCPLineMax), goldenPort, &c)
			if err == nil {
				t.Errorf("parsed %q as %v", tt.line, c)
			}
		})
	}
}

func TestProcMissingTCP6(t *testing.T) {
	p := &Proc{files: []string{"testdata/tcp", "testdata/no-such-tcp6"}}
	got, err := p.Sample(goldenPort)
	if err != nil {
		t.Fatalf("missing tcp6 must not fail: %v", err)
	}
	var want Counts
	want.Client[Established] = 2
	want.Client[FinWait2] = 1
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	p = &Proc{files: []string{"testdata/no-such-tcp", "testdata/tcp6"}}
	if _, err := p.Sample(goldenPort); err == nil {
		t.Error("missing /proc/net/tcp must fail")
	}
}
