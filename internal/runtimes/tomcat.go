package runtimes

import "github.com/simdev/sim/internal/topology"

func init() {
	register(Runtime{
		Name: Tomcat, Order: 10, Label: "Tomcat", Color: "#d62728",
		Summary: "Tomcat's NIO connector and Apache HttpClient 4's pooling manager: the incident (the default)",
		Version: "Apache Tomcat 10.1 NIO connector (the incident ran Tomcat 8, whose connector and defaults are the same), Apache HttpClient 4.5 PoolingHttpClientConnectionManager",
		Rig:     "bench/tomcat",
		Mechanics: Mechanics{
			Queue:       "accepted, in an in-process FIFO with no timer: every connection holds an fd of the app, up to max_connections and the fd limit",
			Connection:  "keep-alive (connection_timeout 20 s)",
			Client:      "HttpClient's pool: 2 connections per route, 20 in all, kept alive, no timeouts",
			Watchdog:    "none",
			Unit:        "thread: max_threads 200, all of them run requests",
			DeadClients: "runs them: a queued request whose client left stays queued and is served",
		},
		// The schema's defaults are Tomcat's and HttpClient's (serverconf.Defaults).
		Defaults: map[string]string{},
		Observed: Observed{
			Pile:  "4,023 CLOSE_WAIT at the fd limit (4096), held by the app (the write-up); 3,576 on a real Tomcat 10.1 (200 threads, 1 s pages, bench/tomcat)",
			After: "did not recover after the test",
		},
		Fixes: []Fix{
			{What: "serve the static file from nginx (the incident's fix)", Topology: topology.Split},
			{What: "HttpClient timeouts: setSocketTimeout and setConnectionRequestTimeout", Topology: topology.SelfTimeout},
			{What: "a second connector with its own <Executor> for the static path", Topology: topology.Bulkhead},
			{What: "read the file in process (ServletContext.getResourceAsStream)", Topology: topology.InProc},
		},
	})
}
