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
	simrun "github.com/simdev/sim/simulator/run"
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

// run performs one run on the session's engine; server may adjust the server config.
func (s *session) run(topology string, prof *loadprofiles.Profile, profName, dir string, server func(*app.Config)) (*runner.Outcome, error) {
	var eng simrun.Engine = runner.Engine{Exe: s.exe, Force: s.force.ch}
	if s.engine == results.EngineModel {
		eng = model.Engine{}
	}
	out, err := eng.Run(s.cmd.Context(), simrun.Spec{
		Topology:    topology,
		Profile:     prof,
		ProfileName: profName,
		RecordDir:   dir,
		Server:      server,
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
