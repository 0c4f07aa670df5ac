package model

import (
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/simulator/app"
)

// sharedByDesign are the engine's fields a clone shares with its original on purpose: the
// config, never changed once the engine runs, and the agenda's view of its delays.
var sharedByDesign = map[string]bool{
	"engine.p":        true,
	"engine.ag.delay": true,
}

// memRange is the memory a slice's backing array or a pointer's target spans, by the field
// path that holds it.
type memRange struct {
	path       string
	start, end uintptr
}

// memory collects the memory v refers to, walking structs, arrays, slices (and their
// elements), pointers, maps, interfaces and funcs, except the paths of sharedByDesign.
func memory(v reflect.Value, path string, out *[]memRange) {
	if sharedByDesign[path] {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			memory(v.Field(i), path+"."+v.Type().Field(i).Name, out)
		}
	case reflect.Array:
		for i := range v.Len() {
			memory(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.Slice:
		if v.Cap() == 0 {
			return
		}
		size := uintptr(v.Cap()) * v.Type().Elem().Size()
		*out = append(*out, memRange{path, v.Pointer(), v.Pointer() + max(size, 1)})
		for i := range v.Len() {
			memory(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		*out = append(*out, memRange{path, v.Pointer(), v.Pointer() + max(v.Type().Elem().Size(), 1)})
		memory(v.Elem(), path+"*", out)
	case reflect.Map, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		if !v.IsNil() {
			*out = append(*out, memRange{path, v.Pointer(), v.Pointer() + 1})
		}
	case reflect.Interface:
		if !v.IsNil() {
			memory(v.Elem(), path+"(iface)", out)
		}
	}
}

// aliases lists the memory a clone shares with its original.
func aliases(orig, clone *engine) []string {
	var o, c []memRange
	memory(reflect.ValueOf(orig).Elem(), "engine", &o)
	memory(reflect.ValueOf(clone).Elem(), "engine", &c)
	var shared []string
	for _, cr := range c {
		for _, or := range o {
			if cr.start < or.end && or.start < cr.end {
				shared = append(shared, fmt.Sprintf("clone's %s shares memory with the original's %s", cr.path, or.path))
				break
			}
		}
	}
	return shared
}

// fillSlices gives every empty slice reachable from v (outside sharedByDesign) one zero
// element, so that a part's slice that a clone forgets to copy is shared whatever the state the
// system happened to be in. It returns how many slices it reached.
func fillSlices(v reflect.Value, path string) int {
	if sharedByDesign[path] {
		return 0
	}
	n := 0
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem() // unexported: settable
			n += fillSlices(f, path+"."+v.Type().Field(i).Name)
		}
	case reflect.Array:
		for i := range v.Len() {
			n += fillSlices(v.Index(i), path)
		}
	case reflect.Slice:
		n++
		if v.Len() == 0 {
			v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
		}
	}
	return n
}

// TestCloneSharesNothing: a clone shares no memory with its original but the config, for every
// part of the engine, found by reflection: a slice (a queue, an idle list, a table) added to a
// part and not cloned fails it, whatever its name. Checked on systems of every topology in a busy
// state, and again with every empty slice given an element.
func TestCloneSharesNothing(t *testing.T) {
	type system struct {
		name, topology string
		change         func(*app.Config)
	}
	var systems []system
	for _, name := range topology.Names() {
		systems = append(systems, system{name, name, nil})
	}
	// The front proxy's part (nginx in front of PHP-FPM's shape, pm = dynamic), with its timers running.
	systems = append(systems, system{"self+front_proxy", topology.Self, func(c *app.Config) {
		c.FrontProxy, c.ProxyReadTimeout, c.Connector, c.MaxThreads, c.MaxConnections = true, 3e9, "bio", 16, 16
		c.AcceptCount, c.KeepAlive, c.SelfCallPool, c.PoolStartWorkers = 4096, false, false, 2
	}})
	for _, sys := range systems {
		t.Run(sys.name, func(t *testing.T) {
			cfg := serverConfig(sys.topology, func(c *app.Config) {
				c.ConnectTimeout, c.ConnectionRequestTimeout = 1e9, 1e9
				// The watchdog's part at work too: kills and boots pending.
				c.WorkerTimeout, c.WorkerBoot = 2e9, 5e8
				if sys.change != nil {
					sys.change(c)
				}
			})
			s := steadyFactory(t, cfg, loadprofiles.Client{Timeout: 2e9, Keepalive: true, Connections: 4})(60, 5).(*steady)
			for s.Now() < 20 && s.Step() {
			}
			if sys.change != nil && (s.e.proxy.requests == 0 || s.e.tcp.fsrv[tEst] == 0) {
				t.Fatalf("the front proxy forwarded %d requests, %d front connections open: not exercised", s.e.proxy.requests, s.e.tcp.fsrv[tEst])
			}
			if got := aliases(s.e, s.Clone(1).(*steady).e); len(got) > 0 {
				t.Fatalf("in a busy state at %.1f s:\n%v", s.Now(), got)
			}
			if n := fillSlices(reflect.ValueOf(s.e).Elem(), "engine"); n < 10 {
				t.Fatalf("reached only %d slices of the engine's parts", n)
			}
			if got := aliases(s.e, s.Clone(2).(*steady).e); len(got) > 0 {
				t.Fatalf("with every slice filled:\n%v", got)
			}
		})
	}
}

// TestAliasesFindsSharing: the check above can fail: a shallow copy of an engine shares its
// tables and queues, and aliases says which.
func TestAliasesFindsSharing(t *testing.T) {
	s := steadyFactory(t, serverConfig(app.Self, nil), loadprofiles.Client{})(60, 5).(*steady)
	for s.Now() < 20 && s.Step() {
	}
	fillSlices(reflect.ValueOf(s.e).Elem(), "engine")
	shallow := *s.e
	got := aliases(s.e, &shallow)
	want := []string{"engine.reqs.all", "engine.conns.all", "engine.app.workers.queue.items", "engine.pool.route.queue.items", "engine.client.idle"}
	for _, w := range want {
		found := false
		for _, g := range got {
			if len(g) > len("clone's "+w) && g[len("clone's "):len("clone's ")+len(w)+1] == w+" " {
				found = true
			}
		}
		if !found {
			t.Errorf("a shallow copy's %s is not reported as shared; got %v", w, got)
		}
	}
}
