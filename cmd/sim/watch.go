package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/simdev/sim/simulator/watch"
)

// watchTokenEnv is the environment variable that carries the agent's token, so that it need
// not appear on a command line (ps, shell history).
const watchTokenEnv = "SIM_WATCH_TOKEN"

// watchInterval is how often the agent samples by itself, between requests: often enough to
// tell when a self-call first appeared within a second.
const watchInterval = time.Second

// watchStopTimeout bounds the wait for requests in progress when the agent stops.
const watchStopTimeout = 5 * time.Second

func newWatchCmd() *cobra.Command {
	cfg := watch.Config{Addr: watch.DefaultAddr, Interval: watchInterval, WarnAfter: watch.DefaultWarnAfter}
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Serve the socket census of an app's port (a sidecar agent for sim run and Prometheus)",
		Long: `Run beside an app — on its host, or in its network namespace as a container sidecar — and
serve, on a listener of its own, the server-side socket census of the app's port: TCP sockets by
state (CLOSE_WAIT included), the listening socket's accept queue, and the open fds and
RLIMIT_NOFILE of the process that owns the port (--pid, or found from the listening socket).
Socket states live in a network namespace: an agent inside the app's namespace sees the
CLOSE_WAIT sockets that the host cannot.

  GET /census   JSON: {"version", "port", "time_unix_nano" (the agent's clock), "duration_ns",
                "method", "server": {state: n}, "client": {state: n},
                "listen": {"listening", "queue_length", "queue_limit"},
                "process": {"pid", "found_by", "open_fds", "max_fds"} or null, "process_error"}
  GET /metrics  Prometheus: sim_tcp_sockets{port,state}, sim_listening, sim_listen_queue_length,
                sim_listen_queue_limit, sim_process_open_fds, sim_process_max_fds (by port), and
                the agent's own cost: sim_watch_sample_duration_seconds, sim_watch_samples_total,
                sim_watch_sample_errors_total

Self-calls: client sockets held by the processes behind the port (the listening socket's holders
— one for Tomcat, Jetty or sim serve, a pre-fork master and its workers — and their children)
whose other end is the port's own server side. The census counts them by state ("selfcall":
{"connections": {state: n}, "waiting", "waiting_accept_queue", "waiting_unread",
"oldest_wait_ms", "callers", "processes", "first_seen_unix_nano", "warning", "warn_after_ms",
"requests_in_flight", "requests_in_flight_peak", "workers", "wait_warning", "pool_warning",
"pool_rule_off", "warn_fraction"}); a self-call is waiting when its request is sent and not yet
answered (the kernel's tcp_info). With --upstream, the processes behind that port (PHP-FPM
behind nginx on --port) are the app's too. The warning is on while a self-call has waited
--warn-after or longer (wait), or, with --workers, when an app seen calling itself held
requests on its port for --warn-fraction of its workers at once since the census before
(requests_in_flight_peak; pool: before the pool is full; off for good once the app held more
requests than workers with its self-calls answered: async). Prometheus:
sim_selfcall_connections{port,state}, sim_selfcall_waiting, sim_selfcall_waiting_oldest_seconds,
sim_requests_in_flight(_peak), sim_selfcall_warning, sim_selfcall_warning_samples_total{rule}
and more (deploy/prometheus/selfcall-rules.yml is a ready alerting rule).

Every request takes a fresh sample (concurrent requests share one); the agent also samples by
itself every --interval, so that it prints, once, when it first sees a self-call:
  self-call seen: process 4242 (java) calls its own port 8080: 3 connections, 2 waiting The agent is read-only:
netlink sock_diag and /proc only, no program run, GET and HEAD only, bounded answers. It listens
on loopback and answers loopback Host values only, unless --allow-non-loopback; then it needs a
token (--token or SIM_WATCH_TOKEN, at least 16 characters), sent as "Authorization: Bearer
TOKEN" on every request, /metrics included. A token set on loopback is checked too.

Once listening it prints one line:
  watch http://127.0.0.1:PORT`,
		Example: `  sim watch --port 8080
  sim watch --port 8080 --pid 4242 --addr 127.0.0.1:8082
  sim watch --port 8080 --upstream 9000 --workers 16   # PHP-FPM on 9000 behind nginx on 8080
  SIM_WATCH_TOKEN=$(openssl rand -hex 16) sim watch --port 8080 --addr 0.0.0.0:8082 --allow-non-loopback`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("token") {
				cfg.Token = os.Getenv(watchTokenEnv)
			}
			return runWatch(cmd, cfg)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Port, "port", 0, "the app's TCP port to watch (required, 1 to 65535)")
	f.IntVar(&cfg.PID, "pid", 0, "the app's process id; 0 finds the owner of the port's listening socket")
	f.IntVar(&cfg.Upstream, "upstream", 0, "the port of the app behind --port's proxy (PHP-FPM behind nginx): its calls to --port count as self-calls (0: none)")
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "the agent's own listen host:port (loopback unless --allow-non-loopback; port 0 picks a free one)")
	f.BoolVar(&cfg.AllowNonLoopback, "allow-non-loopback", false, "listen beyond loopback and answer any IP or single-label Host (containers); requires a token")
	f.StringVar(&cfg.Token, "token", "", "bearer token required on every request (default $"+watchTokenEnv+"); required beyond loopback")
	f.DurationVar(&cfg.WarnAfter, "warn-after", cfg.WarnAfter, "the self-call warning fires while a self-call has waited this long for its answer")
	f.IntVar(&cfg.Workers, "workers", 0, "the app's worker pool size (maxThreads; workers x threads) when pages hold their worker during a self-call: turns on the pool warning (0: off; leave it off for an async app)")
	f.Float64Var(&cfg.WarnFraction, "warn-fraction", 0, fmt.Sprintf("the pool warning fires when an app seen calling itself held this share of --workers requests at once since the census before (0: %v)", watch.DefaultWarnFraction))
	f.DurationVar(&cfg.Interval, "interval", cfg.Interval, "the agent samples by itself this often (0: only when asked), to notice the first self-call")
	return cmd
}

func runWatch(cmd *cobra.Command, cfg watch.Config) error {
	out := cmd.OutOrStdout()
	cfg.Log = func(line string) {
		fmt.Fprintln(out, line)
		if f, ok := out.(*os.File); ok {
			_ = f.Sync()
		}
	}
	a, err := watch.Start(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "watch %s\n", a.URL())
	if f, ok := out.(*os.File); ok {
		_ = f.Sync()
	}
	var serveErr error
	select {
	case <-cmd.Context().Done():
	case serveErr = <-a.Err():
	}
	ctx, cancel := context.WithTimeout(context.Background(), watchStopTimeout)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		return err
	}
	if serveErr != nil {
		return fmt.Errorf("watch listener stopped: %w", serveErr)
	}
	return nil
}
