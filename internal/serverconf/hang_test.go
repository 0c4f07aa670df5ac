package serverconf

import (
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/topology"
)

// TestHangMessages: the list of topologies that can hang, as every command's message names
// them, comes from topology.CanHang on each topology's defaults; NoHang blames the topology when
// it never hangs, and the keys when they are what rule the hang out.
func TestHangMessages(t *testing.T) {
	if got, want := HangingTopologies(), "self, bounded-queue, admission-limit with admission wait"; got != want {
		t.Errorf("HangingTopologies() = %q, want %q", got, want)
	}
	c := Defaults()
	c.Topology = topology.Split
	c.Normalize()
	if got := c.NoHang(); got != "split" {
		t.Errorf("split: NoHang %q", got)
	}
	c.Topology, c.SocketTimeout = topology.Self, time.Second
	if got := c.NoHang(); !strings.HasPrefix(got, "self with these keys (the self-call has socket_timeout 1s") {
		t.Errorf("self with socket_timeout: NoHang %q", got)
	}
	c.SocketTimeout = 0
	if got := c.NoHang(); got != "" {
		t.Errorf("self: NoHang %q, want it to hang", got)
	}
	// selfcall_pool false: no lease, so connection_request_timeout cannot free a worker.
	c.ConnectionRequestTimeout = time.Second
	if got := c.NoHang(); !strings.Contains(got, "connection_request_timeout") {
		t.Errorf("self with connection_request_timeout: NoHang %q", got)
	}
	c.SelfCallPool = false
	if got := c.NoHang(); got != "" || !c.CanHang() {
		t.Errorf("self with connection_request_timeout and selfcall_pool false: NoHang %q, want it to hang", got)
	}
}
