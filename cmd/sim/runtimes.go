package main

import (
	"fmt"
	"strings"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/runtimes"
	"github.com/simdev/sim/loadprofiles"
)

// runtimeHelp lists every registered runtime for a command's help: its name, what it is, the
// real version it was measured against.
func runtimeHelp() string {
	const nameWidth = 10
	indent := strings.Repeat(" ", 2+nameWidth)
	var b strings.Builder
	for _, rt := range runtimes.All() {
		text := rt.Summary + ". Measured against: " + rt.Version + "."
		for i, line := range wrap(text, helpWidth-len(indent)) {
			if i == 0 {
				fmt.Fprintf(&b, "  %-*s%s\n", nameWidth, rt.Name, line)
			} else {
				fmt.Fprintf(&b, "%s%s\n", indent, line)
			}
		}
	}
	return b.String()
}

// runtimeNames is the registered names, as a flag's usage lists them.
func runtimeNames() string { return strings.Join(runtimes.Names(), ", ") }

// runtimeUsage is the usage of a flag that takes one runtime.
func runtimeUsage() string {
	return "the server runtime to imitate: one of " + runtimeNames() + " (default: the profile's server.runtime, else tomcat; see docs/runtimes.md)"
}

// checkRuntime validates a runtime name given on the command line.
func checkRuntime(flag, rt string) error {
	if _, ok := runtimes.Lookup(rt); !ok {
		return &invalid.Error{Field: flag, Value: rt, Allowed: "one of " + runtimeNames()}
	}
	return nil
}

// parseRuntimes reads --runtimes: "all", or a comma-separated list of registered names, each
// once.
func parseRuntimes(flag string, values []string) ([]string, error) {
	raw := strings.Join(values, ",")
	rts, err := runtimes.ParseList(raw)
	if err != nil {
		return nil, &invalid.Error{Field: flag, Value: raw, Allowed: "all, or a comma-separated list of " + runtimeNames() + ", each once (" + err.Error() + ")"}
	}
	return rts, nil
}

// withRuntime returns a copy of p whose server section sets runtime rt ("" leaves p as it
// is): the runtime's defaults then apply to every key the profile leaves unset, and config.json
// shows the runtime in the profile it ran.
func withRuntime(p *loadprofiles.Profile, rt string) *loadprofiles.Profile {
	if rt == "" {
		return p
	}
	q := *p
	if err := q.Server.Set("runtime", rt); err != nil {
		panic(err) // runtime is a profile key of Kind String
	}
	return &q
}

// profileRuntime is the runtime p's server section names, or tomcat.
func profileRuntime(p *loadprofiles.Profile) string {
	if v, ok := p.Server.Get("runtime"); ok {
		if s, ok := v.(string); ok {
			return s
		}
	}
	return runtimes.Tomcat
}
