package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

// configView is a run's effective config (config.json) as the report shows it: the server
// section and the load profile, as key/value rows in the order the record holds them.
type configView struct {
	// Missing says why there is nothing to show; empty when there is.
	Missing string `json:"missing,omitempty"`
	Server  []kv   `json:"server,omitempty"`
	Profile []kv   `json:"load_profile,omitempty"`
}

type kv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// runConfig is what a report takes from config.json.
type runConfig struct {
	view       configView
	maxThreads int
	// probeTimeout is the recovery probes' timeout, for the definition of recovery.
	probeTimeout string
}

// profileDurations are the load profile's durations by path (loadprofiles.DurationPaths), and
// serverDuration says whether a server key is one (its Kind in serverconf.Keys): config.json
// stores a duration as nanoseconds, and the report shows "200ms", not 200000000, because the
// key's kind says so, not a list kept here.
var profileDurations = loadprofiles.DurationPaths()

func serverDuration(path string) bool {
	k, ok := serverconf.LookupKey(path)
	return ok && k.Kind == serverconf.Duration
}

func profileDuration(path string) bool { return profileDurations[path] }

// readConfig reads config.json in dir. config.json is not versioned like summary.json and
// holds whatever the runner wrote, so this reads it loosely: a missing or unreadable file, or
// a missing section, leaves the report without it rather than failing the report.
func readConfig(dir string) runConfig {
	var rc runConfig
	// Through results.ReadFile: a config.json that is a FIFO would block the report forever.
	data, err := results.ReadFile(dir, results.ConfigFile)
	if errors.Is(err, os.ErrNotExist) {
		rc.view.Missing = "the record has no " + results.ConfigFile
		return rc
	}
	if err != nil {
		rc.view.Missing = fmt.Sprintf("%s unreadable: %v", results.ConfigFile, err)
		return rc
	}
	root, err := parseOrdered(data)
	obj, ok := root.(*object)
	if err != nil || !ok {
		rc.view.Missing = results.ConfigFile + " is not a JSON object"
		return rc
	}
	if srv, ok := obj.get("server").(*object); ok {
		rc.view.Server = flatten("", srv, serverDuration)
		if n, ok := srv.get("max_threads").(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				rc.maxThreads = int(i)
			}
		}
	}
	if lp, ok := obj.get("load_profile").(*object); ok {
		rc.view.Profile = profileRows(lp)
		if rec, ok := lp.get("recovery").(*object); ok {
			if v := rec.get("timeout"); v != nil {
				rc.probeTimeout = scalar(v, profileDuration("recovery.timeout"))
			}
		}
	}
	if rc.view.Server == nil && rc.view.Profile == nil {
		rc.view.Missing = results.ConfigFile + " has no server or load_profile section"
	}
	return rc
}

// profileRows shows a load profile one key a row; a section (client, recovery, ...) becomes one
// row of "key value" pairs, the stages one row in words.
func profileRows(lp *object) []kv {
	var rows []kv
	for _, k := range lp.keys {
		v := lp.vals[k]
		switch x := v.(type) {
		case []any:
			if k == "stages" {
				rows = append(rows, kv{k, stagesText(x)})
				continue
			}
			rows = append(rows, kv{k, scalar(v, profileDuration(k))})
		case *object:
			var parts []string
			for _, p := range flatten("", x, func(path string) bool { return profileDuration(k + "." + path) }) {
				parts = append(parts, p.Key+" "+p.Value)
			}
			if len(parts) == 0 {
				continue
			}
			rows = append(rows, kv{k, strings.Join(parts, ", ")})
		default:
			if s := scalar(v, profileDuration(k)); s != `""` {
				rows = append(rows, kv{k, s})
			}
		}
	}
	return rows
}

// stagesText renders stages as "ramp 10 → 120 rps over 20s; hold 120 rps for 5s".
func stagesText(stages []any) string {
	var parts []string
	prev := "0"
	for _, st := range stages {
		o, ok := st.(*object)
		if !ok {
			continue
		}
		dur := scalar(o.get("duration"), profileDuration("stages.duration"))
		target := scalar(o.get("target"), false)
		mode := scalar(o.get("mode"), false)
		if mode == "hold" {
			parts = append(parts, fmt.Sprintf("hold %s rps for %s", target, dur))
		} else {
			from := prev
			if f := o.get("from"); f != nil {
				from = scalar(f, false)
			}
			parts = append(parts, fmt.Sprintf("ramp %s → %s rps over %s", from, target, dur))
		}
		prev = target
	}
	return strings.Join(parts, "; ")
}

// flatten lists an object's scalar values as rows, nested objects as "outer.inner" keys;
// empty nested objects are left out. isDur says which keys (by that path) are durations.
func flatten(prefix string, o *object, isDur func(path string) bool) []kv {
	var rows []kv
	for _, k := range o.keys {
		switch x := o.vals[k].(type) {
		case *object:
			rows = append(rows, flatten(prefix+k+".", x, isDur)...)
		default:
			rows = append(rows, kv{prefix + k, scalar(x, isDur(prefix+k))})
		}
	}
	return rows
}

func scalar(v any, isDur bool) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if x == "" {
			return `""`
		}
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case json.Number:
		if isDur {
			if ns, err := x.Int64(); err == nil {
				return time.Duration(ns).String()
			}
		}
		return x.String()
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, scalar(e, false))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case *object:
		var parts []string
		for _, p := range flatten("", x, func(string) bool { return false }) {
			parts = append(parts, p.Key+" "+p.Value)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// object is a JSON object that remembers its key order, so the config reads in the order the
// runner wrote it (the order of its Go structs) rather than alphabetically.
type object struct {
	keys []string
	vals map[string]any
}

func (o *object) get(k string) any {
	if o == nil {
		return nil
	}
	return o.vals[k]
}

func parseOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				if _, dup := o.vals[k]; !dup {
					o.keys = append(o.keys, k)
				}
				o.vals[k] = v
			}
			_, err := dec.Token() // '}'
			return o, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token() // ']'
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}
