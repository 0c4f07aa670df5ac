package sockets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

const (
	// procBufLen is the read buffer: a /proc/net/tcp line is 150 bytes
	// (tcp6: 178), so one read(2) returns about 1,500 of them.
	procBufLen = 256 << 10
	// procTCPLineMax is longer than any line of /proc/net/tcp{,6}; a longer
	// one means the file is not what it should be.
	procTCPLineMax = 4 << 10
)

// Proc counts sockets by parsing /proc/net/tcp and /proc/net/tcp6. It is the
// fallback for systems where netlink sock_diag is unavailable: each sample
// reads every TCP socket of the network namespace (other processes'
// TIME_WAIT included) and the files are not a consistent snapshot.
//
// /proc does not show a listener's backlog limit, so AcceptQueueMax is
// QueueMaxUnknown when the port listens. A Proc is safe for use by one
// goroutine at a time.
type Proc struct {
	files []string
	buf   []byte
}

// NewProc returns a sampler that parses /proc/net/tcp and /proc/net/tcp6.
func NewProc() *Proc {
	return &Proc{files: []string{"/proc/net/tcp", "/proc/net/tcp6"}}
}

// Sample counts the TCP sockets of port over IPv4 and IPv6. A missing
// /proc/net/tcp6 (kernel without IPv6) is not an error.
func (p *Proc) Sample(port uint16) (Counts, error) {
	if port == 0 {
		return Counts{}, errors.New("sample sockets: port 0")
	}
	if p.buf == nil {
		p.buf = make([]byte, procBufLen)
	}
	var c Counts
	for i, name := range p.files {
		if err := p.parseFile(name, port, &c); err != nil {
			if i > 0 && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return Counts{}, fmt.Errorf("sample sockets of port %d: %w", port, err)
		}
	}
	if c.Listening {
		c.AcceptQueueMax = QueueMaxUnknown
	}
	return c, nil
}

// Method returns MethodProc.
func (p *Proc) Method() string { return MethodProc }

// Close releases the read buffer.
func (p *Proc) Close() error {
	p.buf = nil
	return nil
}

func (p *Proc) parseFile(name string, port uint16, c *Counts) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := parseTCP(f, p.buf, port, c); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// parseTCP counts the sockets of port listed in r, in the format of
// /proc/net/tcp or /proc/net/tcp6, using buf to read.
func parseTCP(r io.Reader, buf []byte, port uint16, c *Counts) error {
	var (
		have   int // bytes of buf holding unparsed data
		header = true
	)
	for {
		m, err := r.Read(buf[have:])
		have += m
		data := buf[:have]
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			line := data[:i]
			data = data[i+1:]
			if header {
				header = false
				continue
			}
			if err := parseTCPLine(line, port, c); err != nil {
				return err
			}
		}
		have = copy(buf, data)
		if err == io.EOF {
			if have > 0 && !header {
				return parseTCPLine(buf[:have], port, c)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if have > procTCPLineMax || have == len(buf) {
			return fmt.Errorf("line longer than %d bytes", procTCPLineMax)
		}
	}
}

// parseTCPLine counts one socket line:
//
//	sl  local_address rem_address   st tx_queue rx_queue ...
//	0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 ...
//
// Addresses end in ":PORT" (4 hex digits); tcp6 addresses are 32 hex digits.
// For a listener rx_queue is the accept queue's length.
func parseTCPLine(line []byte, port uint16, c *Counts) error {
	var f [5][]byte
	rest := line
	for i := range f {
		rest = bytes.TrimLeft(rest, " ")
		j := bytes.IndexByte(rest, ' ')
		if j < 0 {
			j = len(rest)
		}
		f[i], rest = rest[:j], rest[j:]
	}
	sport, ok1 := hexPort(f[1])
	dport, ok2 := hexPort(f[2])
	state, ok3 := parseHex(f[3])
	if !ok1 || !ok2 || !ok3 || state > 0xff {
		return fmt.Errorf("malformed line %q", line)
	}
	if sport != port && dport != port {
		return nil
	}
	var rq uint64
	if State(state) == Listen {
		j := bytes.IndexByte(f[4], ':')
		var ok bool
		if j >= 0 {
			rq, ok = parseHex(f[4][j+1:])
		}
		if !ok {
			return fmt.Errorf("malformed queues in line %q", line)
		}
	}
	c.count(State(state), sport, dport, port, int(rq), 0)
	return nil
}

// hexPort returns the port of an "ADDRESS:PORT" field.
func hexPort(field []byte) (uint16, bool) {
	i := bytes.LastIndexByte(field, ':')
	if i < 0 {
		return 0, false
	}
	v, ok := parseHex(field[i+1:])
	return uint16(v), ok && v <= 0xffff
}

// parseHex parses up to 16 hex digits without allocating.
func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, ch := range b {
		switch {
		case '0' <= ch && ch <= '9':
			ch -= '0'
		case 'A' <= ch && ch <= 'F':
			ch -= 'A' - 10
		case 'a' <= ch && ch <= 'f':
			ch -= 'a' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(ch)
	}
	return v, true
}
