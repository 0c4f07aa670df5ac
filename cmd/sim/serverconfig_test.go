package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/simulator/runner"
)

// yamlDoc writes the keys' examples as a YAML document of nested mappings, indented by indent.
func yamlDoc(keys []serverconf.Key, indent string) string {
	var b strings.Builder
	written := map[string]bool{}
	for _, k := range keys {
		parts := strings.Split(k.Name, ".")
		for i, p := range parts[:len(parts)-1] {
			section := strings.Join(parts[:i+1], ".")
			if !written[section] {
				written[section] = true
				b.WriteString(indent + strings.Repeat("  ", i) + p + ":\n")
			}
		}
		value := k.Format(k.Example())
		if k.Kind == serverconf.String || k.Kind == serverconf.Duration {
			value = strconv.Quote(value)
		}
		b.WriteString(indent + strings.Repeat("  ", len(parts)-1) + parts[len(parts)-1] + ": " + value + "\n")
	}
	return b.String()
}

// A key is declared once, in serverconf.Keys, and reaches every place from there: each key a
// profile may set, set in a profile's server section, goes into the run's server config, onto
// the child's command line, and back through sim serve's flags to the same config. Adding a key
// to the schema adds it to this test with nothing else to write.
func TestServerConfigSchemaRoundTrip(t *testing.T) {
	var profileKeys []serverconf.Key
	for _, k := range serverconf.Keys() {
		if k.Profile {
			profileKeys = append(profileKeys, k)
		}
	}
	names := func(keys []serverconf.Key) []string {
		var out []string
		for _, k := range keys {
			out = append(out, k.Name)
		}
		return out
	}
	if n := names(profileKeys); len(n) < 19 || !slices.Contains(n, "tcp_keepalive") {
		t.Fatalf("profile keys %v", n)
	}
	yaml := "stages: [{duration: 1s, target: 1}]\nserver:\n" + yamlDoc(profileKeys, "  ")
	p, err := loadprofiles.Parse("every-key.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	cfg, err := runner.ServerConfig("split", p)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range profileKeys {
		if got := k.Get(&cfg); got != k.Example() {
			t.Errorf("profile server.%s: the run's config has %v, want %v", k.Name, got, k.Example())
		}
	}
	if got, want := p.Server.Flags(), len(profileKeys); len(got) != want {
		t.Errorf("the profile's section renders %d flags for %d keys: %v", len(got), want, got)
	}
	cmd := newServeCmd()
	if err := cmd.ParseFlags(cfg.Flags()); err != nil {
		t.Fatalf("the child's flags %v: %v", cfg.Flags(), err)
	}
	served, err := loadServerConfig(cmd)
	if err != nil {
		t.Fatalf("sim serve %v: %v", cfg.Flags(), err)
	}
	if served != cfg {
		t.Errorf("sim serve %v runs\n%+v\nthe run asked for\n%+v", cfg.Flags(), served, cfg)
	}
}

// Every key, profile or not, is a flag, a SIM_* variable and a --config key: set each to its
// example through one source at a time, and sim serve reads them all.
func TestServerConfigEverySource(t *testing.T) {
	keys := serverconf.Keys()
	for _, source := range []string{"flag", "env", "config"} {
		t.Run(source, func(t *testing.T) {
			cmd := newServeCmd()
			switch source {
			case "flag":
				for _, k := range keys {
					if err := cmd.Flags().Set(k.FlagName(), k.Format(k.Example())); err != nil {
						t.Fatalf("--%s: %v", k.FlagName(), err)
					}
				}
			case "env":
				for _, k := range keys {
					t.Setenv(k.EnvName(), k.Format(k.Example()))
				}
			case "config":
				path := filepath.Join(t.TempDir(), "serve.yaml")
				if err := os.WriteFile(path, []byte(yamlDoc(keys, "")), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := cmd.Flags().Set("config", path); err != nil {
					t.Fatal(err)
				}
			}
			// Resolved, not validated: the examples of static.url and static_addr cannot go
			// together (a static server is started, or one at static.url is used).
			cfg, err := resolveServerConfig(cmd)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if got := k.Get(&cfg); got != k.Example() {
					t.Errorf("%s: %v, want %v", k.Name, got, k.Example())
				}
			}
		})
	}
}
