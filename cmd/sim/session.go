package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/model"
	"github.com/simdev/sim/simulator/runner"
)

// session runs one or more topologies for a command, sharing the sim binary, the progress line
// and the second-interrupt handling.
type session struct {
	cmd      *cobra.Command
	exe      string
	force    *forcer
	progress *progressPrinter
	// stopOnHang: end each run's load once it has hung (`sim run --stop-on-hang`).
	stopOnHang bool
	// engine runs each topology: results.EngineSockets (also when empty) or EngineModel.
	engine string
}

func newSession(cmd *cobra.Command) (*session, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	return &session{
		cmd:      cmd,
		exe:      exe,
		force:    forceOnSecondSignal(),
		progress: newProgressPrinter(cmd.ErrOrStderr()),
	}, nil
}

func (s *session) close() { s.force.stop() }

// run performs one run; server may adjust the server config.
func (s *session) run(topology string, prof *loadprofiles.Profile, profName, dir string, server func(*app.Config)) (*runner.Outcome, error) {
	if s.engine == results.EngineModel {
		return s.runModel(topology, prof, profName, dir, server)
	}
	out, err := runner.Run(s.cmd.Context(), runner.Options{
		Topology:    topology,
		Profile:     prof,
		ProfileName: profName,
		Exe:         s.exe,
		RecordDir:   dir,
		Progress:    s.progress.update,
		Force:       s.force.ch,
		Server:      server,
		StopOnHang:  s.stopOnHang,
	})
	s.progress.done()
	return out, err
}

// runModel performs one run in the virtual-time model, on the server config `sim run` would
// start.
func (s *session) runModel(topology string, prof *loadprofiles.Profile, profName, dir string, server func(*app.Config)) (*runner.Outcome, error) {
	cfg, err := runner.ServerConfig(topology, prof)
	if err != nil {
		return nil, err
	}
	if server != nil {
		server(&cfg)
	}
	out, err := model.Run(s.cmd.Context(), model.Options{
		Topology:    topology,
		Profile:     prof,
		ProfileName: profName,
		Server:      cfg,
		RecordDir:   dir,
		Progress:    s.progress.update,
		StopOnHang:  s.stopOnHang,
	})
	s.progress.done()
	return out, err
}

// checkEngine validates --engine.
func checkEngine(v string) error {
	if v != results.EngineSockets && v != results.EngineModel {
		return &invalid.Error{Field: "--engine", Value: v, Allowed: "sockets (the real server on loopback) or model (the virtual-time model)"}
	}
	return nil
}

// engineHelp explains --engine for run and compare.
const engineHelp = `Engines: --engine sockets (the default) runs the real server on loopback sockets as described
above. --engine model runs the virtual-time model instead (simulator/model): a discrete-event
simulation of the same server (connector, worker queue, self-call pool, timeouts, fd limit,
sockets by state) fed the same arrivals as the socket engine, with the few timings that are not
configuration measured on real sockets. It takes milliseconds, opens no socket, writes the same
record, and marks it: summary.json and config.json say "engine": "model", and the printed
summary says (model).`

// runError maps a failed run to the exit code contract: bad input 2, anything else 3, with
// where the (incomplete) record is.
func runError(out *runner.Outcome, err error) error {
	if err == nil {
		return nil
	}
	if out == nil {
		if invalid.Is(err) {
			return err
		}
		return &exitError{code: exitFailed, err: err}
	}
	if errors.Is(err, runner.ErrInterrupted) {
		return &exitError{code: exitFailed, err: fmt.Errorf("%v; record kept, marked incomplete: %s", err, out.Dir)}
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("run failed: %v; record kept, marked incomplete: %s", err, out.Dir)}
}
