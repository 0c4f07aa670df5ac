package runtimes

import "github.com/simdev/sim/internal/topology"

// Puma is Puma in single mode with a Rack page calling its own URL with Ruby's Net::HTTP
// (puma/puma#612, #1433).
const Puma = "puma"

func init() {
	register(Runtime{
		Name: Puma, Order: 40, Label: "Puma", Color: "#ff7f0e",
		Summary: "Puma's thread pool (single mode) and Ruby's Net::HTTP with its default timeouts",
		Version: "Puma 5.6.5 (Debian bookworm, Ruby 3.1), single mode, queue_requests on; Net::HTTP (Ruby 3.1)",
		Rig:     "bench/runtimes/puma",
		Mechanics: Mechanics{
			Queue:       "the listen backlog (1,024): Puma accepts only while a thread is free",
			Connection:  "keep-alive; an idle kept-alive connection waits in the reactor, holding no thread",
			Client:      "Net::HTTP: a new connection per self-call; open, read and write timeouts 60 s, and an idempotent GET retried once (max_retries 1)",
			Watchdog:    "none in Puma; Net::HTTP's read timeout and retry end a stuck self-call after about 2 minutes: measured, it recovered 111 s after the load",
			Unit:        "thread: threads 0:5 (Puma 5's default), one Ruby process (one GVL)",
			DeadClients: "drops them: a connection already in CLOSE_WAIT when a thread takes it is closed unrun (closed_socket?)",
		},
		Defaults: map[string]string{
			"connector":          "reactor", // accept only while a thread is free; idle keep-alive holds none
			"max_threads":        "5",       // threads 0:5
			"accept_count":       "1024",
			"selfcall_pool":      "false",
			"socket_timeout":     "60s",  // Net::HTTP read_timeout
			"connect_timeout":    "60s",  // Net::HTTP open_timeout
			"selfcall_retries":   "1",    // Net::HTTP max_retries
			"honor_client_close": "true", // closed_socket? before a request runs
		},
		Topologies: []string{topology.Self, topology.Split, topology.SelfTimeout, topology.InProc},
		Observed: Observed{
			Pile:  "963 CLOSE_WAIT: 947 in the listen backlog, 16 held (Puma 5.6, 16 threads)",
			After: "answered again 111 s after the load, once Net::HTTP's 60 s read timeout had fired twice (timeout, retry, timeout)",
		},
		Fixes: []Fix{
			{What: "serve the file from nginx or the CDN", Topology: topology.Split},
			{What: "Net::HTTP with short open/read timeouts", Topology: topology.SelfTimeout},
			{What: "more threads (-t 16:16), or workers (cluster mode)", Keys: map[string]string{"max_threads": "16"},
				Note: "moves the hang to a higher rate; #1433: it still happens with 20 workers and 20 threads"},
			{What: "render the fragment in process", Topology: topology.InProc},
		},
	})
}
