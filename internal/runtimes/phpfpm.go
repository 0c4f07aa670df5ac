package runtimes

import "github.com/simdev/sim/internal/topology"

// PHPFPM is PHP-FPM behind nginx with a page that calls its own URL through curl, as
// WordPress's loopback requests (wp-cron.php, the REST API) do.
const PHPFPM = "php-fpm"

func init() {
	register(Runtime{
		Name: PHPFPM, Order: 30, Label: "PHP-FPM", Color: "#9467bd",
		Summary: "PHP-FPM children (a process each) behind nginx, and curl",
		Version: "PHP-FPM 8.2.36 (Debian bookworm php8.2-fpm, www pool), nginx 1.22.1, php8.2-curl",
		Rig:     "bench/runtimes/php-fpm",
		Mechanics: Mechanics{
			Queue:       "nginx accepts every client; each request waits in PHP-FPM's listen backlog (4,096 here: listen.backlog unset), where a free child accepts it",
			Connection:  "nginx keeps clients alive; a new FastCGI connection per request, closed by FPM after it",
			Client:      "curl, a new handle per call: a new connection per self-call through nginx; no timeout (connect timeout 300 s)",
			Watchdog:    "FPM: none (request_terminate_timeout 0); nginx answers 504 after fastcgi_read_timeout (60 s), also to the stuck self-calls, which frees the children: measured, they take the next dead requests from the backlog and the pool stays hung",
			Unit:        "process: pm.max_children 5, pm = dynamic from 2 children (Debian's www.conf), which grows the pool by about a child a second under load",
			DeadClients: "runs them: nginx closes its FastCGI connection on a client's timeout (499), FPM still accepts it and runs the page",
		},
		Defaults: map[string]string{
			"connector":     "bio",
			"max_threads":   "5", // pm.max_children in Debian's www.conf
			"accept_count":  "4096",
			"keep_alive":    "false",
			"selfcall_pool": "false",
			// nginx in front: accepts every client, a FastCGI connection per request, 504 after
			// fastcgi_read_timeout (proxy_read_timeout's default, 60 s).
			"front_proxy": "true",
			// Debian's pm = dynamic: pm.start_servers 2, min/max spare 1/3 (the keys' own
			// defaults). Started cold on 2 children, two pages at once already hang it; the
			// rig, warmed up first, hung at 20 rps (bench/runtimes/README.md). A static pool of
			// N is pool_start_workers N with pool_max_spare N.
			"pool_start_workers": "2",
		},
		Topologies: []string{topology.Self, topology.Split, topology.SelfTimeout, topology.Bulkhead, topology.InProc},
		Observed: Observed{
			Pile:  "913 CLOSE_WAIT on PHP-FPM's port: 897 in its listen backlog, 16 held; none on nginx's (16 children, pm static)",
			After: "never answered again: 29 x 504 from nginx in the 120 s after the load",
		},
		Fixes: []Fix{
			{What: "let nginx serve the file (a location without fastcgi_pass)", Topology: topology.Split},
			{What: "CURLOPT_TIMEOUT on the loopback request", Topology: topology.SelfTimeout},
			{What: "a second FPM pool for loopback requests (its own listen socket and children; nginx routes the loopback path to it)", Topology: topology.Bulkhead,
				Note: "sim's bulkhead is a second connector with its own workers in the same process; the page reaches it directly, not through the front proxy. With the default dynamic pool the engines differ on it (quick: collapse 12.5 s on sockets, 11.75 s in the model; 412 vs 381 OK); with a static pool they agree (80 rps both, 1013 vs 1009 OK)"},
			{What: "include or file_get_contents the file instead of HTTP", Topology: topology.InProc},
			{What: "pm = static with more children", Keys: map[string]string{"max_threads": "16", "pool_start_workers": "16", "pool_max_spare": "16"},
				Note: "moves the hang to a higher rate; it does not remove it"},
		},
	})
}
