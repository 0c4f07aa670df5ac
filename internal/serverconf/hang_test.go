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
	// A front proxy's read timeout (nginx's 60 s by default) rules the absorbing state out; a
	// proxy_read_timeout of 0 does not, and proxy_read_timeout does nothing without a proxy.
	c.FrontProxy = true
	if got := c.NoHang(); !strings.Contains(got, "front proxy") || c.CanHang() {
		t.Errorf("self with front_proxy: NoHang %q, want the proxy's timeout named", got)
	}
	c.ProxyReadTimeout = 0
	if got := c.NoHang(); got != "" {
		t.Errorf("self with front_proxy and proxy_read_timeout 0: NoHang %q, want it to hang", got)
	}
	c.FrontProxy = false
	if got := c.Hang().ProxyTimeout; got != 0 {
		t.Errorf("no front proxy: ProxyTimeout %v, want 0", got)
	}
}

// TestPumaJettyKeys: Puma's self-call (socket_timeout with a retry) names the retry and the time
// a stuck page waits; connector_threads must leave a worker, as Jetty's pool check demands, and
// come off max_threads; connector reactor refuses what has no nio queue.
func TestPumaJettyKeys(t *testing.T) {
	c := Defaults()
	c.Topology, c.Connector, c.SelfCallPool = topology.Self, Reactor, false
	c.SocketTimeout, c.SelfCallRetries = time.Minute, 1
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatalf("the Puma shape: %v", err)
	}
	if got := c.NoHang(); !strings.Contains(got, "selfcall_retries 1") || !strings.Contains(got, "after 2m0s") {
		t.Errorf("Puma: NoHang %q, want the retry and 2m0s", got)
	}
	c = Defaults()
	c.MaxThreads, c.ConnectorThreads = 16, 2
	c.Normalize()
	if err := c.Validate(); err != nil || c.Workers() != 14 || c.Hang().Workers != 14 {
		t.Fatalf("16 threads, 2 for the connector: %v, workers %d", err, c.Workers())
	}
	c.ConnectorThreads = 16
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "connector_threads") || !strings.Contains(err.Error(), "0 to max_threads - 1 (15)") {
		t.Errorf("connector_threads = max_threads: %v, want it refused naming the key and the range", err)
	}
	c = Defaults()
	c.Topology, c.Connector = topology.BoundedQueue, Reactor
	c.Normalize()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "reactor has no worker queue to bound") {
		t.Errorf("bounded-queue with reactor: %v", err)
	}
}
