package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/simdev/sim/internal/invalid"
)

// Exit codes, a contract with scripts.
const (
	exitOK       = 0
	exitBreached = 1 // a threshold was breached
	exitBadInput = 2 // the user's input was wrong; nothing was run
	exitFailed   = 3 // the run itself failed
)

// exitError carries an exit code with an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run builds the command tree, runs it and maps the outcome to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "sim:", err)
	return exitCode(err)
}

func exitCode(err error) int {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case invalid.Is(err), errors.Is(err, errUsage):
		return exitBadInput
	default:
		return exitFailed
	}
}

// errUsage marks cobra's own complaints (unknown flag, wrong argument count).
var errUsage = errors.New("usage")

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "sim",
		Short: "Reproduce and measure the self-call deadlock of a bounded worker pool",
		Long: `sim runs a Tomcat-like web app whose page fetches a static file over HTTP from itself
(topology self: the incident), or in one of the ways teams fix it (split, the incident's own
fix, a separate static server; and the others below), puts load on it and measures hang onset,
capacity, CLOSE_WAIT sockets and recovery on real loopback sockets, or in a virtual-time model
of the same server. 'sim compare --topologies all' runs every topology on the same load.
The server imitates Tomcat by default, or another runtime where the same deadlock is met
(--runtime; 'sim compare --runtimes all' runs each).

Topologies:
` + topologyHelp() + `
Runtimes:
` + runtimeHelp(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %v (see '%s --help')", errUsage, err, c.CommandPath())
	})
	root.AddCommand(newCompareCmd(), newReproduceCmd(), newRunCmd(), newPlanCmd(), newReportCmd(), newServeCmd(), newStaticCmd(), newWatchCmd())
	for _, c := range root.Commands() {
		c.Args = wrapArgs(c.Args)
	}
	return root
}

// wrapArgs makes argument-count errors usage errors (exit 2).
func wrapArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	if check == nil {
		check = cobra.NoArgs
	}
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return nil
	}
}
