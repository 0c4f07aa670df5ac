//go:build !linux

package sockets

import (
	"errors"
	"fmt"
)

// Netlink counts sockets with Linux NETLINK_SOCK_DIAG dumps; on this system
// it cannot be created.
type Netlink struct{}

// NewNetlink fails: sock_diag exists on Linux only.
func NewNetlink() (*Netlink, error) {
	return nil, fmt.Errorf("open netlink sock_diag socket: %w", errors.ErrUnsupported)
}

// Sample fails: sock_diag exists on Linux only.
func (*Netlink) Sample(uint16) (Counts, error) { return Counts{}, errors.ErrUnsupported }

// Method returns MethodNetlink.
func (*Netlink) Method() string { return MethodNetlink }

// Close does nothing.
func (*Netlink) Close() error { return nil }

// SampleSockets fails: sock_diag exists on Linux only.
func (*Netlink) SampleSockets(_ uint16, buf []Socket) (Counts, []Socket, error) {
	return Counts{}, buf, errors.ErrUnsupported
}
