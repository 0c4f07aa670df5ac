package main

import (
	"fmt"
	"strings"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/topology"
)

// helpWidth is where the topology list of the help text wraps: cobra prints Long as it is, and
// the rest of the help is written to about 100 columns.
const helpWidth = 100

// topologyHelp lists every registered topology for a command's help, in the registry's order:
// its name, what changes, and the real-world deployment it stands for.
func topologyHelp() string {
	const nameWidth = 17 // "admission-limit" and two spaces
	indent := strings.Repeat(" ", 2+nameWidth)
	var b strings.Builder
	for _, tp := range topology.All() {
		text := tp.Summary + ". Real world: " + tp.Counterpart + "."
		for i, line := range wrap(text, helpWidth-len(indent)) {
			if i == 0 {
				fmt.Fprintf(&b, "  %-*s%s\n", nameWidth, tp.Name, line)
			} else {
				fmt.Fprintf(&b, "%s%s\n", indent, line)
			}
		}
	}
	return b.String()
}

// topologyNames is the registered names, as a flag's usage lists them.
func topologyNames() string { return strings.Join(topology.Names(), ", ") }

// topologyUsage is the usage of a flag that takes one topology.
func topologyUsage() string {
	return "the topology: one of " + topologyNames() + " (listed in 'sim run --help')"
}

// checkTopology validates a topology name given on the command line: any registered one.
func checkTopology(flag, t string) error {
	if _, ok := topology.Lookup(t); !ok {
		return &invalid.Error{Field: flag, Value: t, Allowed: "one of " + topologyNames()}
	}
	return nil
}

// parseTopologies reads --topologies: "all", or a comma-separated list of registered names,
// each once. values are the flag's values as given (a repeated flag gives several).
func parseTopologies(flag string, values []string) ([]string, error) {
	raw := strings.Join(values, ",")
	tops, err := topology.ParseList(raw)
	if err != nil {
		return nil, &invalid.Error{Field: flag, Value: raw, Allowed: "all, or a comma-separated list of " + topologyNames() + ", each once (" + err.Error() + ")"}
	}
	return tops, nil
}

// wrap breaks text into lines of at most width bytes at spaces; a word longer than width has a
// line of its own.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
