package serverconf

import (
	"fmt"
	"strings"

	"github.com/simdev/sim/internal/topology"
)

//go:generate go test -run TestKeysDoc|TestTopologiesDoc -update .

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
