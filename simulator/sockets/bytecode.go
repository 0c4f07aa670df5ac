package sockets

import "encoding/binary"

// Opcodes of struct inet_diag_bc_op (include/uapi/linux/inet_diag.h).
const (
	bcJmp   = 1  // INET_DIAG_BC_JMP: always take the "no" branch
	bcSCond = 7  // INET_DIAG_BC_S_COND: source address/port matches a hostcond
	bcDCond = 8  // INET_DIAG_BC_D_COND: destination address/port matches a hostcond
	bcSEq   = 11 // INET_DIAG_BC_S_EQ: source port equals op[1].no (Linux 4.16+)
	bcDEq   = 12 // INET_DIAG_BC_D_EQ: destination port equals op[1].no (Linux 4.16+)
)

const (
	// bcOpLen is sizeof(struct inet_diag_bc_op): code u8, yes u8, no u16.
	bcOpLen = 4
	// bcHostcondLen is sizeof(struct inet_diag_hostcond) with no address:
	// family u8, prefix_len u8, 2 bytes of padding, port int32.
	bcHostcondLen = 8
	// maxFilterLen bounds the filter program: the hostcond form is the longer.
	maxFilterLen = 2*(bcOpLen+bcHostcondLen) + bcOpLen
)

// appendPortFilter appends the inet_diag bytecode of
// "sport == port || dport == port" to dst, laid out as iproute2's ss compiles
// `sport = :P or dport = :P`:
//
//	A:   S test, yes → JMP, no → B (the next op after JMP)
//	JMP: no → end of program (accept)
//	B:   D test, yes → end of program (accept), no → 4 bytes past the end (reject)
//
// The kernel accepts a socket when the program ends exactly at its last byte
// and rejects it when a jump lands past the end. Its verifier
// (inet_diag_bc_audit) walks the "yes" chain op by op, so a "yes" cannot skip
// over B to the end directly; the JMP does that.
//
// With cond false the tests are INET_DIAG_BC_S_EQ/D_EQ (Linux 4.16+); with
// cond true they are S_COND/D_COND with a wildcard address, which older
// kernels understand.
func appendPortFilter(dst []byte, port uint16, cond bool) []byte {
	test := func(dst []byte, code uint8) []byte {
		if cond {
			const l = bcOpLen + bcHostcondLen
			dst = appendOp(dst, code, l, l+bcOpLen)
			// hostcond: family AF_UNSPEC and prefix 0 match any address.
			dst = append(dst, 0, 0, 0, 0)
			return binary.NativeEndian.AppendUint32(dst, uint32(int32(port)))
		}
		const l = 2 * bcOpLen
		dst = appendOp(dst, code, l, l+bcOpLen)
		// The port travels in host byte order in the "no" field of a second op.
		return appendOp(dst, 0, 0, port)
	}
	sCode, dCode, testLen := uint8(bcSEq), uint8(bcDEq), 2*bcOpLen
	if cond {
		sCode, dCode, testLen = bcSCond, bcDCond, bcOpLen+bcHostcondLen
	}
	dst = test(dst, sCode)
	dst = appendOp(dst, bcJmp, bcOpLen, uint16(testLen+bcOpLen))
	return test(dst, dCode)
}

func appendOp(dst []byte, code, yes uint8, no uint16) []byte {
	dst = append(dst, code, yes)
	return binary.NativeEndian.AppendUint16(dst, no)
}
