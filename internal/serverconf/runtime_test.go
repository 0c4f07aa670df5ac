package serverconf

import (
	"errors"
	"strings"
	"testing"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/runtimes"
	"github.com/simdev/sim/internal/topology"
)

// TestRuntimeDefaults checks every runtime's defaults and fixes against the schema: each key is
// a profile key and its text parses and passes its check, the runtime's defaults reach the
// config for every topology it allows (and those topologies validate), the others are refused
// naming the topology, and Tomcat changes nothing.
func TestRuntimeDefaults(t *testing.T) {
	if len(runtimes.All()) < 5 {
		t.Fatalf("runtimes %v", runtimes.Names())
	}
	for _, rt := range runtimes.All() {
		for name, text := range rt.Defaults {
			k, ok := LookupKey(name)
			if !ok || !k.Profile {
				t.Errorf("%s: default %s: not a profile key", rt.Name, name)
				continue
			}
			if v, err := k.ParseText(text); err != nil {
				t.Errorf("%s: default %s=%s: %v", rt.Name, name, text, err)
			} else if err := k.Check(v); err != nil {
				t.Errorf("%s: default %s=%s: %v", rt.Name, name, text, err)
			}
		}
		for _, tp := range topology.Names() {
			c := Defaults()
			c.Runtime, c.Topology = rt.Name, tp
			c.Normalize()
			err := c.Validate()
			if !rt.Allows(tp) {
				var ie *invalid.Error
				if !errors.As(err, &ie) || ie.Field != "topology" || !strings.Contains(ie.Allowed, "with runtime "+rt.Name) {
					t.Errorf("%s on %s: Validate = %v, want the topology refused", rt.Name, tp, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s on %s: %v", rt.Name, tp, err)
				continue
			}
			tdef := topology.Must(tp).Defaults
			for name, text := range rt.Defaults {
				k, _ := LookupKey(name)
				v, _ := k.ParseText(text)
				if _, byTopology := tdef[name]; !byTopology && k.Get(&c) != v {
					t.Errorf("%s on %s: %s = %v, want the runtime's %v", rt.Name, tp, name, k.Get(&c), v)
				}
			}
		}
		for _, f := range rt.Fixes {
			if f.Topology != "" && !rt.Allows(f.Topology) {
				t.Errorf("%s: fix %q names topology %s, which it does not allow", rt.Name, f.What, f.Topology)
			}
			if f.Topology == "" && len(f.Keys) == 0 {
				t.Errorf("%s: fix %q says neither a topology nor keys", rt.Name, f.What)
			}
			c := Defaults()
			c.Runtime = rt.Name
			if f.Topology != "" {
				c.Topology = f.Topology
			}
			for name, text := range f.Keys {
				k, ok := LookupKey(name)
				if !ok {
					t.Errorf("%s: fix %q: no key %s", rt.Name, f.What, name)
					continue
				}
				if err := k.SetText(&c, text); err != nil {
					t.Errorf("%s: fix %q: %v", rt.Name, f.What, err)
				}
			}
			c.Normalize()
			if err := c.Validate(); err != nil {
				t.Errorf("%s: fix %q does not validate: %v", rt.Name, f.What, err)
			}
		}
	}
	// Tomcat is the schema: a config naming it is the default config.
	c, d := Defaults(), Defaults()
	c.Runtime = runtimes.Tomcat
	c.Normalize()
	d.Normalize()
	if c != d {
		t.Errorf("runtime tomcat changes the config:\n%+v\nwant\n%+v", c, d)
	}
}

// TestRuntimeYieldsToSetKeys: a key the config sets keeps its value over the runtime's default,
// and a topology's default wins over the runtime's (self-timeout's 1 s over Puma's 60 s).
func TestRuntimeYieldsToSetKeys(t *testing.T) {
	c := Defaults()
	c.Runtime = runtimes.Gunicorn
	c.MaxThreads = 16
	c.Normalize()
	if c.MaxThreads != 16 || c.Connector != BIO || c.AcceptCount != 2048 || c.KeepAlive || c.MaxConnections != 16 {
		t.Errorf("gunicorn with 16 workers: %+v", c)
	}
	c = Defaults()
	c.Runtime, c.Topology = runtimes.Puma, topology.SelfTimeout
	c.Normalize()
	if c.SocketTimeout.String() != "1s" || c.ConnectTimeout.String() != "1m0s" {
		t.Errorf("puma on self-timeout: socket_timeout %v, connect_timeout %v; want 1s (the topology's), 1m0s (the runtime's)", c.SocketTimeout, c.ConnectTimeout)
	}
}
