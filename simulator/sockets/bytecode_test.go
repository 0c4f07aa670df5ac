package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"testing"
)

// The kernel checks a filter program once (inet_diag_bc_audit) and runs it on
// every socket (inet_diag_bc_run), both in net/ipv4/inet_diag.c. auditBC and
// runBC restate them for the opcodes appendPortFilter uses, so that a layout
// mistake shows here with a message rather than as EINVAL or wrong counts.

func auditBC(bc []byte) error {
	ne := binary.NativeEndian
	validCC := func(length, cc int) bool {
		for off := 0; length >= 0; {
			if cc > length {
				return false
			}
			if cc == length {
				return true
			}
			yes := int(bc[off+1])
			if yes < bcOpLen || yes&3 != 0 {
				return false
			}
			length -= yes
			off += yes
		}
		return false
	}
	length, off := len(bc), 0
	for length > 0 {
		if length < bcOpLen {
			return fmt.Errorf("op at %d: %d bytes left", off, length)
		}
		code, yes, no := bc[off], int(bc[off+1]), int(ne.Uint16(bc[off+2:]))
		minLen := bcOpLen
		switch code {
		case bcSEq, bcDEq:
			minLen += bcOpLen
		case bcSCond, bcDCond:
			minLen += bcHostcondLen
			if length >= minLen && (bc[off+4] != 0 || bc[off+5] != 0) {
				return fmt.Errorf("op at %d: hostcond with an address is not modelled", off)
			}
		case bcJmp:
		default:
			return fmt.Errorf("op at %d: opcode %d not modelled", off, code)
		}
		if length < minLen {
			return fmt.Errorf("op at %d: needs %d bytes, %d left", off, minLen, length)
		}
		if no < minLen || no > length+4 || no&3 != 0 {
			return fmt.Errorf("op at %d: bad no=%d", off, no)
		}
		if no < length && !validCC(length, length-no) {
			return fmt.Errorf("op at %d: no=%d lands off the yes chain", off, no)
		}
		if yes < minLen || yes > length+4 || yes&3 != 0 {
			return fmt.Errorf("op at %d: bad yes=%d", off, yes)
		}
		off += yes
		length -= yes
	}
	if length != 0 {
		return errors.New("yes chain does not end at the last byte")
	}
	return nil
}

func runBC(bc []byte, sport, dport uint16) bool {
	ne := binary.NativeEndian
	length, off := len(bc), 0
	for length > 0 {
		code := bc[off]
		yes := true
		switch code {
		case bcJmp:
			yes = false
		case bcSEq:
			yes = sport == ne.Uint16(bc[off+6:])
		case bcDEq:
			yes = dport == ne.Uint16(bc[off+6:])
		case bcSCond, bcDCond:
			want := int32(ne.Uint32(bc[off+8:]))
			got := int32(sport)
			if code == bcDCond {
				got = int32(dport)
			}
			yes = want == -1 || want == got
		}
		step := int(bc[off+1])
		if !yes {
			step = int(ne.Uint16(bc[off+2:]))
		}
		length -= step
		off += step
	}
	return length == 0
}

func TestPortFilterProgram(t *testing.T) {
	for _, cond := range []bool{false, true} {
		for _, port := range []uint16{1, 80, 0x1234, 65535} {
			t.Run(fmt.Sprintf("cond=%t/port=%d", cond, port), func(t *testing.T) {
				bc := appendPortFilter(nil, port, cond)
				if len(bc) > maxFilterLen {
					t.Fatalf("program of %d bytes, maxFilterLen is %d", len(bc), maxFilterLen)
				}
				if err := auditBC(bc); err != nil {
					t.Fatalf("kernel would reject the program: %v\n% x", err, bc)
				}
				other := port + 1
				swapped := bits.ReverseBytes16(port)
				tests := []struct {
					sport, dport uint16
					want         bool
				}{
					{port, other, true},
					{other, port, true},
					{port, port, true},
					{other, other, false},
					{other, 0, false},
					{0, other, false},
				}
				if swapped != port {
					tests = append(tests, struct {
						sport, dport uint16
						want         bool
					}{swapped, swapped, false})
				}
				for _, tt := range tests {
					if got := runBC(bc, tt.sport, tt.dport); got != tt.want {
						t.Errorf("sport %d dport %d: match %t, want %t", tt.sport, tt.dport, got, tt.want)
					}
				}
			})
		}
	}
}

// TestAuditRejectsOrWithoutJmp shows why the program needs its JMP: an "or"
// whose first test jumps straight to the end leaves the second test off the
// yes chain, and the kernel's verifier refuses it.
func TestAuditRejectsOrWithoutJmp(t *testing.T) {
	const port = 8080
	var bc []byte
	bc = appendOp(bc, bcSEq, 16, 8)
	bc = appendOp(bc, 0, 0, port)
	bc = appendOp(bc, bcDEq, 8, 12)
	bc = appendOp(bc, 0, 0, port)
	if err := auditBC(bc); err == nil {
		t.Fatal("audit accepted an or without JMP")
	}
}
