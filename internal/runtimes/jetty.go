package runtimes

import "github.com/simdev/sim/internal/topology"

// Jetty is Jetty 9 with a servlet calling its own URL with HttpURLConnection (Apache Pulsar's
// broker calling its own REST API: apache/pulsar#3776, #4375).
const Jetty = "jetty"

func init() {
	register(Runtime{
		Name: Jetty, Order: 50, Label: "Jetty", Color: "#8c564b",
		Summary: "Jetty's QueuedThreadPool and the JDK's HttpURLConnection",
		Version: "Jetty 9.4.57 (Debian bookworm jetty9, OpenJDK 17), QueuedThreadPool, HttpURLConnection",
		Rig:     "bench/runtimes/jetty",
		Mechanics: Mechanics{
			Queue:       "accepted, in the thread pool's unbounded in-process queue: CLOSE_WAIT sockets are held by the JVM (accept queue 50, rarely used)",
			Connection:  "keep-alive (idle timeout 30 s, which does not close a connection whose request waits in the queue)",
			Client:      "HttpURLConnection: a keep-alive cache of at most 5 idle connections per destination, a new connection for each concurrent call, no timeouts",
			Watchdog:    "none",
			Unit:        "thread: maxThreads 200, of which the connector leases its acceptor and selector threads (2 on 2 cores): measured, 14 of 16 ran pages",
			DeadClients: "runs them",
		},
		Defaults: map[string]string{
			"connector":          "nio",
			"max_threads":        "200",
			"accept_count":       "50", // acceptQueueSize 0: the JDK's default backlog
			"connection_timeout": "30s",
			"keep_alive_timeout": "30s", // jetty.http.idleTimeout
			"selfcall_pool":      "false",
			// The connector's acceptor and selector are leased from the pool (2 on 2 cores:
			// 14 of 16 threads ran pages on the rig).
			"connector_threads": "2",
		},
		Observed: Observed{
			Pile:  "1,080 CLOSE_WAIT, all held by the app (accepted), none in the backlog (Jetty 9.4, 16 threads)",
			After: "never answered again: 14 of 16 threads in the page, 721 jobs queued",
		},
		Fixes: []Fix{
			{What: "serve static content from another server", Topology: topology.Split},
			{What: "setConnectTimeout/setReadTimeout on the connection", Topology: topology.SelfTimeout},
			{What: "a minimum of threads above the concurrent self-calls (Pulsar's numHttpServerThreads)", Keys: map[string]string{"max_threads": "400"},
				Note: "moves the hang to a higher rate; it does not remove it"},
			{What: "Servlet 3 async (AsyncContext) around the call", Topology: topology.Async},
			{What: "a second ServerConnector with its own thread pool for the static path", Topology: topology.Bulkhead},
			{What: "call the resource in process", Topology: topology.InProc},
		},
	})
}
