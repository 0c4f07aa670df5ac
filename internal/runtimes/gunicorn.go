package runtimes

import "github.com/simdev/sim/internal/topology"

// Gunicorn is gunicorn's sync worker with a Flask page calling its own URL with Python's
// requests (benoitc/gunicorn#134, #1878, #1923).
const Gunicorn = "gunicorn"

func init() {
	register(Runtime{
		Name: Gunicorn, Order: 20, Label: "gunicorn", Color: "#2ca02c",
		Summary: "gunicorn's sync workers (a process each) and Python requests without a session",
		Version: "gunicorn 20.1.0 (Debian bookworm), sync worker class, Flask 2.2.2, python3-requests 2.28.1",
		Rig:     "bench/runtimes/gunicorn",
		Mechanics: Mechanics{
			Queue:       "the kernel's listen backlog (--backlog 2048): a worker accepts only when free; waiting connections, and later their CLOSE_WAIT sockets, hold no fd of the app",
			Connection:  "closed after each response (Connection: close even when the client asks keep-alive)",
			Client:      "requests without a Session: a new connection per self-call, at the tail of the same backlog; no timeout",
			Watchdog:    "the arbiter kills a worker silent for --timeout (30 s) and boots a new one; measured, that does not end the hang: each new worker takes the next dead request from the backlog",
			Unit:        "process: --workers (default 1), one request at a time each",
			DeadClients: "runs them: a connection whose client left is accepted and its page runs, self-call and all",
		},
		Defaults: map[string]string{
			"connector":     "bio",
			"max_threads":   "1",    // --workers: gunicorn's default is one worker
			"accept_count":  "2048", // --backlog
			"keep_alive":    "false",
			"selfcall_pool": "false",
			// The arbiter: --timeout 30; a replacement's first page came a median 2.0 s after
			// the kill on the rig (bench/runtimes/README.md).
			"worker_timeout": "30s",
			"worker_boot":    "2s",
		},
		// bio has no in-process queue: bounded-queue and async need one (serverconf refuses
		// them with bio); the admission limit's modes park pages in that queue too.
		Topologies: []string{topology.Self, topology.Split, topology.SelfTimeout, topology.InProc},
		Observed: Observed{
			Pile:  "1,155 CLOSE_WAIT: 1,146 in the listen backlog, 9 held by the app (gunicorn 20.1, 16 workers)",
			After: "never answered again: 64 WORKER TIMEOUT and 80 workers booted in the 120 s after the load",
		},
		Fixes: []Fix{
			{What: "serve the static file from nginx or a CDN", Topology: topology.Split},
			{What: "--threads 4 (the gthread worker: threads per process, connections queued in the worker)",
				Keys: map[string]string{"connector": "nio", "keep_alive": "true"},
				Note: "a bigger pool with an in-process queue: it moves the hang to a higher rate, it does not remove it (set max_threads to workers x threads)"},
			{What: "gevent or eventlet workers (a greenlet per request, ~1,000 per worker)",
				Keys: map[string]string{"connector": "nio", "max_threads": "1000"},
				Note: "the page's self-call yields its greenlet, so the pool is the worker_connections limit; sim stands for it with a 1,000-worker pool"},
			{What: "requests.get(url, timeout=5)", Topology: topology.SelfTimeout},
			{What: "call the view function or read the file instead of HTTP", Topology: topology.InProc},
		},
	})
}
