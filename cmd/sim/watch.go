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

// watchStopTimeout bounds the wait for requests in progress when the agent stops.
const watchStopTimeout = 5 * time.Second

func newWatchCmd() *cobra.Command {
	cfg := watch.Config{Addr: watch.DefaultAddr}
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

Every request takes a fresh sample (concurrent requests share one). The agent is read-only:
netlink sock_diag and /proc only, no program run, GET and HEAD only, bounded answers. It listens
on loopback and answers loopback Host values only, unless --allow-non-loopback; then it needs a
token (--token or SIM_WATCH_TOKEN, at least 16 characters), sent as "Authorization: Bearer
TOKEN" on every request, /metrics included. A token set on loopback is checked too.

Once listening it prints one line:
  watch http://127.0.0.1:PORT`,
		Example: `  sim watch --port 8080
  sim watch --port 8080 --pid 4242 --addr 127.0.0.1:8082
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
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "the agent's own listen host:port (loopback unless --allow-non-loopback; port 0 picks a free one)")
	f.BoolVar(&cfg.AllowNonLoopback, "allow-non-loopback", false, "listen beyond loopback and answer any IP or single-label Host (containers); requires a token")
	f.StringVar(&cfg.Token, "token", "", "bearer token required on every request (default $"+watchTokenEnv+"); required beyond loopback")
	return cmd
}

func runWatch(cmd *cobra.Command, cfg watch.Config) error {
	a, err := watch.Start(cfg)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
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
