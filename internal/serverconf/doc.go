package serverconf

import (
	"fmt"
	"strings"

	"github.com/simdev/sim/internal/runtimes"
	"github.com/simdev/sim/internal/topology"
)

//go:generate go test -run TestKeysDoc|TestTopologiesDoc|TestRuntimesDoc -update .

// KeysDoc renders the key reference (docs/keys.md) from Keys: a key's name, flag, environment
// variable, default, whether a profile's server section may set it, and its help. It is
// generated, never edited: TestKeysDoc fails when docs/keys.md differs, and `go generate
// ./internal/serverconf` (or that test with -update) writes it again.
func KeysDoc() string {
	var b strings.Builder
	b.WriteString("<!-- Generated from serverconf.Keys by `go generate ./internal/serverconf`; do not edit. -->\n\n")
	b.WriteString("# Server keys\n\n")
	b.WriteString("Every key of the server, in the order `sim serve --help` shows them. `sim serve` takes each\n" +
		"as a flag, a `SIM_*` environment variable or a key of its `--config` YAML file (in that order of\n" +
		"precedence, over the default); the keys marked *profile* may also be set in a load profile's\n" +
		"`server:` section. Durations are Go durations (`100ms`). A topology may give its own keys\n" +
		"another default (`self-timeout` sets both self-call timeouts to 1s): see\n" +
		"[topologies.md](topologies.md).\n\n")
	b.WriteString("| key | flag | environment | default | profile | what it does |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, k := range Keys() {
		def := "`" + k.Format(k.Default()) + "`"
		switch k.Default() {
		case "":
			def = "`\"\"`"
		case unsetKeepAlive: // resolved by Normalize; its help says to what
			def = "unset"
		}
		profile := ""
		if k.Profile {
			profile = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | `%s` | %s | %s | %s |\n",
			k.Name, k.FlagName(), k.EnvName(), def, profile, cell(k.Usage))
	}
	return b.String()
}

// text keeps a <Tag> in prose from being read as HTML by a markdown renderer.
func text(s string) string { return strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(s) }

// cell makes text safe in a markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// TopologiesDoc renders the topology reference (docs/topologies.md) from the registry
// (internal/topology): each topology's summary, real-world counterpart, mechanics, own keys and
// defaults, cost, and whether it can hang with every other key at its default (topology.CanHang,
// with its reason when it cannot).
func TopologiesDoc() string {
	var b strings.Builder
	b.WriteString("<!-- Generated from the topology registry by `go generate ./internal/serverconf`; do not edit. -->\n\n")
	b.WriteString("# Topologies\n\n")
	b.WriteString("One file each in `internal/topology`; `--topologies all` runs them in this order. \"Can hang\" is\n" +
		"decided from the mechanics and the keys (`topology.CanHang`), here with every key at its\n" +
		"default ([keys.md](keys.md)); a timeout can rule the hang out for the others too.\n\n")
	for _, tp := range topology.All() {
		fmt.Fprintf(&b, "## `%s` — %s\n\n", tp.Name, tp.Label)
		fmt.Fprintf(&b, "%s.\n\n", text(upperFirst(tp.Summary)))
		fmt.Fprintf(&b, "- Real world: %s.\n", text(tp.Counterpart))
		m := tp.Mechanics
		mech := []string{"fragment: " + m.Fragment.String()}
		if m.QueueLimit {
			mech = append(mech, "bounded worker queue (max_queue_size)")
		}
		if m.Admission {
			mech = append(mech, "admission limit (admission, reserve)")
		}
		if m.Async {
			mech = append(mech, "async page (releases its worker during the self-call)")
		}
		fmt.Fprintf(&b, "- Mechanics: %s.\n", strings.Join(mech, "; "))
		if len(tp.Keys) > 0 {
			fmt.Fprintf(&b, "- Its keys: `%s`.\n", strings.Join(tp.Keys, "`, `"))
		}
		if len(tp.Defaults) > 0 {
			var defs []string
			for _, k := range Keys() {
				if v, ok := tp.Defaults[k.Name]; ok {
					defs = append(defs, fmt.Sprintf("`%s` %s", k.Name, v))
				}
			}
			fmt.Fprintf(&b, "- Defaults it gives: %s.\n", strings.Join(defs, ", "))
		}
		fmt.Fprintf(&b, "- Can hang with default keys: %s.\n", hangText(tp))
		fmt.Fprintf(&b, "- Cost: %s\n\n", text(tp.Cost))
	}
	return b.String()
}

// hangText says whether tp can hang with default keys, per admission mode when it has an
// admission limit.
func hangText(tp topology.Topology) string {
	c := Defaults()
	c.Topology = tp.Name
	modes := []string{c.Admission}
	if tp.Mechanics.Admission {
		modes = topology.AdmissionModes()
	}
	var parts []string
	for _, mode := range modes {
		c.Admission = mode
		s := "yes"
		if why := topology.WhyNoHang(c.Hang()); why != "" {
			s = "no: " + why
		}
		if tp.Mechanics.Admission {
			s = "admission " + mode + ": " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// RuntimesDoc renders the runtime reference (docs/runtimes.md) from the registry
// (internal/runtimes): the mechanics table, then each runtime's version, rig, the keys it sets,
// the topologies it runs, whether it can hang with its defaults (topology.CanHang on the
// runtime's config) and the fixes its users deploy.
func RuntimesDoc() string {
	var b strings.Builder
	all := runtimes.All()
	b.WriteString("<!-- Generated from the runtime registry by `go generate ./internal/serverconf`; do not edit. -->\n\n")
	b.WriteString("# Runtimes\n\n")
	b.WriteString("The server runtimes sim's server imitates, one file each in `internal/runtimes`: `--runtime R` on\n" +
		"`sim run`, `compare`, `plan` and `reproduce`, `server.runtime` in a profile, `--runtime` / `SIM_RUNTIME`\n" +
		"on `sim serve`; `sim compare --runtimes all` runs a topology on each. A runtime is a set of\n" +
		"defaults for the server's keys ([keys.md](keys.md)): they apply to the keys a config leaves at\n" +
		"their default, after the topology's ([topologies.md](topologies.md)). Its mechanics below were\n" +
		"each checked on a real rig (`bench/runtimes/`); the calibration (real runtime beside both engines) is\n" +
		"in the README.\n\n")
	b.WriteString("| mechanic |")
	for _, r := range all {
		fmt.Fprintf(&b, " %s |", r.Label)
	}
	b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(all)) + "\n")
	rows := []struct {
		name string
		get  func(runtimes.Mechanics) string
	}{
		{"where a waiting request sits", func(m runtimes.Mechanics) string { return m.Queue }},
		{"connection after a response", func(m runtimes.Mechanics) string { return m.Connection }},
		{"self-call client", func(m runtimes.Mechanics) string { return m.Client }},
		{"what ends a stuck request", func(m runtimes.Mechanics) string { return m.Watchdog }},
		{"unit of the pool", func(m runtimes.Mechanics) string { return m.Unit }},
		{"a request whose client has gone", func(m runtimes.Mechanics) string { return m.DeadClients }},
	}
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s |", row.name)
		for _, r := range all {
			fmt.Fprintf(&b, " %s |", cell(row.get(r.Mechanics)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, r := range all {
		fmt.Fprintf(&b, "## `%s` — %s\n\n", r.Name, r.Label)
		fmt.Fprintf(&b, "%s.\n\n", text(upperFirst(r.Summary)))
		fmt.Fprintf(&b, "- Measured against: %s.\n", text(r.Version))
		if r.Rig != "" {
			fmt.Fprintf(&b, "- Rig: `%s/`.\n", r.Rig)
		}
		var defs []string
		for _, k := range Keys() {
			if v, ok := r.Defaults[k.Name]; ok {
				defs = append(defs, fmt.Sprintf("`%s` %s", k.Name, v))
			}
		}
		if len(defs) == 0 {
			defs = []string{"none: the schema's defaults are its own"}
		}
		fmt.Fprintf(&b, "- Keys it sets: %s.\n", strings.Join(defs, ", "))
		fmt.Fprintf(&b, "- Topologies: %s.\n", strings.Join(r.TopologyNames(), ", "))
		c := Defaults()
		c.Runtime = r.Name
		c.Normalize()
		hang := "yes"
		if why := topology.WhyNoHang(c.Hang()); why != "" {
			hang = "no: " + why
		}
		fmt.Fprintf(&b, "- Can hang for good on `self` with its defaults: %s.\n", text(hang))
		if len(r.Fixes) > 0 {
			b.WriteString("- Fixes its users deploy:\n")
			for _, f := range r.Fixes {
				how := ""
				if f.Topology != "" {
					how = "topology `" + f.Topology + "`"
				}
				var keys []string
				for _, k := range Keys() {
					if v, ok := f.Keys[k.Name]; ok {
						keys = append(keys, fmt.Sprintf("`%s=%s`", k.Name, v))
					}
				}
				if len(keys) > 0 {
					if how != "" {
						how += ", "
					}
					how += "keys " + strings.Join(keys, " ")
				}
				line := fmt.Sprintf("  - %s — in sim: %s", text(f.What), how)
				if f.Note != "" {
					line += " (" + text(f.Note) + ")"
				}
				b.WriteString(line + ".\n")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
