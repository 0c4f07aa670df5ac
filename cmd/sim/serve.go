package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/serverconf"

	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/static"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the app (and for split its static server) in the foreground",
		Long: `Run the Tomcat-like app on loopback until SIGINT or SIGTERM.

GET /page takes a worker, spends work_time, then gets its fragment, /static/page.html, as the
--topology says: self fetches it through the HttpClient-like self-call client from the app
itself; split from a separate static server process, sim's embedded server (--static-server
embedded) or Debian's nginx with a generated config (--static-server nginx), or an external one
at --static-url. Every topology:
` + topologyHelp() + `
The admin listener, outside the worker pool, serves /metrics, /stats, /healthz and
/debug/pprof/, to GET and HEAD only and only to a loopback Host (localhost, 127.0.0.0/8,
[::1]) — with --allow-non-loopback also an IP address or a single-label name (a compose
service), never a dotted DNS name: a web page cannot read it by DNS rebinding.

Once listening it prints one line per listener:
  app http://127.0.0.1:PORT
  admin http://127.0.0.1:PORT
  static http://127.0.0.1:PORT   (split: the static server; bulkhead: the static connector)
  pool http://127.0.0.1:PORT     (front_proxy: the worker pool's connector behind the proxy,
                                  whose backlog holds the waiting requests; app is the proxy)

Config precedence: flags, then SIM_* environment variables, then the --config YAML file (keys
as below in snake_case, static.server nested), then defaults (Tomcat 8 NIO, HttpClient 4.x).`,
		Example: `  sim serve --topology self --max-threads 16 --work-time 200ms
  SIM_MAX_THREADS=16 sim serve --topology split
  sim serve --topology split --static-server nginx
  sim serve --config server.yaml --addr 127.0.0.1:18080`,
		RunE: runServe,
	}
	addServerFlags(cmd.Flags())
	return cmd
}

func runServe(cmd *cobra.Command, _ []string) error {
	cfg, err := loadServerConfig(cmd)
	if err != nil {
		return err
	}
	if cfg.NoFile > 0 {
		if err := app.SetNoFile(cfg.NoFile); err != nil {
			if hard, ok := app.NoFileHardLimit(); ok && errors.Is(err, unix.EPERM) && uint64(cfg.NoFile) > hard {
				// Asking for more than the hard limit is the user's mistake, not a failure:
				// say what this process may set (a container's ulimits cap it) instead of
				// quietly running with fewer fds than asked for.
				return invalid.Field("nofile", cfg.NoFile, fmt.Sprintf("0 (leave as is) or %d to %d here: "+
					"the hard RLIMIT_NOFILE sim was started with (ulimit -Hn; in a container, its ulimits), "+
					"which only a process with CAP_SYS_RESOURCE can raise", serverconf.MinNoFile, hard))
			}
			return &exitError{code: exitFailed, err: fmt.Errorf("set RLIMIT_NOFILE to %d: %w", cfg.NoFile, err)}
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	ctx := cmd.Context()
	// nginx's work dir, when sim made it, is removed after a.Close has stopped nginx (defers
	// run last in, first out).
	var tempDir string
	defer func() {
		if tempDir != "" {
			_ = os.RemoveAll(tempDir)
		}
	}()
	startStatic := func(ctx context.Context, addr string) (static.Server, error) {
		if cfg.Static.Server != static.Nginx {
			return static.StartEmbedded(ctx, exe, addr)
		}
		dir := cfg.Static.Dir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "sim-nginx-")
			if err != nil {
				return nil, fmt.Errorf("nginx work dir: %w", err)
			}
			dir, tempDir = tmp, tmp
		}
		return static.StartNginx(ctx, addr, dir)
	}
	a, err := app.Start(ctx, cfg, startStatic)
	if err != nil {
		return err
	}
	defer a.Close()
	out := cmd.OutOrStdout()
	// The topology's listeners. An external static server (static.url) is none of ours, but its
	// line says where the self-call goes, as it always has; the runner does not wait for it.
	urls := map[string]string{"app": a.URL(), "admin": a.AdminURL(), "static": a.StaticURL(), "pool": a.PoolURL()}
	for _, name := range app.Listeners(a.Config(), false) {
		fmt.Fprintf(out, "%s %s\n", name, urls[name])
	}
	if f, ok := out.(*os.File); ok {
		_ = f.Sync()
	}
	select {
	case <-ctx.Done():
	case err := <-a.Err():
		if err != nil {
			return fmt.Errorf("app listener stopped: %w", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- a.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		return fmt.Errorf("stop: timed out after 5s")
	}
}

func newStaticCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:    "static",
		Short:  "Run the embedded static server (the split topology starts it as a child process)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return static.Serve(cmd.Context(), addr, func(url string) {
				fmt.Fprintf(cmd.OutOrStdout(), "static %s\n", url)
			})
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "listen host:port")
	return cmd
}
