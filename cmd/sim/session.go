package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/runner"
)

// session runs one or more topologies for a command, sharing the sim binary, the progress line
// and the second-interrupt handling.
type session struct {
	cmd      *cobra.Command
	exe      string
	force    *forcer
	progress *progressPrinter
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
	out, err := runner.Run(s.cmd.Context(), runner.Options{
		Topology:    topology,
		Profile:     prof,
		ProfileName: profName,
		Exe:         s.exe,
		RecordDir:   dir,
		Progress:    s.progress.update,
		Force:       s.force.ch,
		Server:      server,
	})
	s.progress.done()
	return out, err
}

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

// checkTopology validates a topology name given on the command line.
func checkTopology(flag, t string) error {
	if t != app.Self && t != app.Split {
		return &invalid.Error{Field: flag, Value: t, Allowed: "one of self, split"}
	}
	return nil
}
