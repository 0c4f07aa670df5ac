package serverconf

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// yamlValue is v as a YAML document writes it, for the test's documents.
func yamlValue(k Key, v any) string {
	switch k.Kind {
	case String, Duration:
		return strconv.Quote(k.Format(v))
	}
	return k.Format(v)
}

// profileExamples is a server section with every key a profile may set at its example, as
// yamldoc would decode it.
func profileExamples(t *testing.T) map[string]any {
	t.Helper()
	m := map[string]any{}
	for _, k := range Keys() {
		if !k.Profile {
			continue
		}
		v := k.Example()
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		parent, last, nested := cutLast(k.Name)
		if !nested {
			m[k.Name] = v
			continue
		}
		sub, _ := m[parent].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			m[parent] = sub
		}
		sub[last] = v
	}
	return m
}

// Every key has a usable example, other than its default and allowed, and its text and YAML
// forms read back as the same value.
func TestKeysExamples(t *testing.T) {
	keys := Keys()
	if len(keys) < 25 {
		t.Fatalf("%d keys", len(keys))
	}
	seen := map[string]bool{}
	for _, k := range keys {
		t.Run(k.Name, func(t *testing.T) {
			if seen[k.Name] {
				t.Fatalf("declared twice")
			}
			seen[k.Name] = true
			ex := k.Example()
			if ex == k.Default() {
				t.Errorf("example %v is the default", ex)
			}
			if err := k.Check(ex); err != nil {
				t.Errorf("example refused: %v", err)
			}
			if allowed, ok := k.profileCheck(ex); k.Profile && !ok {
				t.Errorf("example refused in a profile: %s", allowed)
			}
			if got, err := k.ParseText(k.Format(ex)); err != nil || got != ex {
				t.Errorf("ParseText(%q) = %v, %v; want %v", k.Format(ex), got, err, ex)
			}
			yamlRaw := ex
			if d, ok := ex.(time.Duration); ok {
				yamlRaw = d.String()
			}
			if got, err := k.ParseValue(yamlRaw); err != nil || got != ex {
				t.Errorf("ParseValue(%v) = %v, %v; want %v", yamlRaw, got, err, ex)
			}
			if k.Usage == "" {
				t.Error("no help")
			}
		})
	}
}

// Config's every field is a key and every key a field of Config; the profile's section holds
// exactly the keys marked Profile. A field added without its key (or the reverse) fails here.
func TestKeysCoverConfig(t *testing.T) {
	var leaves []string
	var walk func(t reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				walk(f.Type, prefix+name+".")
				continue
			}
			leaves = append(leaves, prefix+name)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	var names []string
	for _, k := range Keys() {
		names = append(names, k.Name)
		// The key reaches its own field: setting its example changes that field only, and the
		// child's command line in its own flag only.
		c := Defaults()
		k.set(&c, k.Example())
		before, after := Defaults().Flags(), c.Flags()
		var changed []string
		for i := range after {
			if after[i] != before[i] {
				changed = append(changed, after[i])
			}
		}
		if want := "--" + k.FlagName() + "=" + k.Format(k.Example()); len(changed) != 1 || changed[0] != want {
			t.Errorf("%s: setting %v changed the flags %v, want only %s", k.Name, k.Example(), changed, want)
		}
	}
	slices.Sort(leaves)
	slices.Sort(names)
	if !slices.Equal(leaves, names) {
		t.Errorf("Config fields %v\nkeys %v", leaves, names)
	}

}

// Set takes every profile key with a value of its type, and refuses other keys and types
// naming the key; a copy of a section set afterwards leaves the original as it was.
func TestOverridesSet(t *testing.T) {
	var o Overrides
	for _, k := range Keys() {
		err := o.Set(k.Name, k.Example())
		if k.Profile != (err == nil) {
			t.Errorf("Set(%s, %v) = %v, profile key %v", k.Name, k.Example(), err, k.Profile)
		}
	}
	examples, err := Decode("server", profileExamples(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Flags(), examples.Flags()) {
		t.Errorf("set one by one %v, decoded %v", o.Flags(), examples.Flags())
	}
	bad := []struct {
		name string
		v    any
	}{
		{"max_thread", 16},                                 // unknown
		{"topology", Split},                                // sim serve only
		{"static.url", "http://nginx"},                     // sim serve only, nested
		{"work_time", 100},                                 // an int is no duration
		{"max_threads", int64(16)},                         // nor an int64 an int
		{"tcp_keepalive", "true"},                          // nor a string a bool
		{"connector", []byte(BIO)},                         // nor bytes a string
		{"keep_alive_timeout", 90 * time.Second.Seconds()}, // nor seconds a duration
	}
	for _, b := range bad {
		var ie *invalid.Error
		var fresh Overrides
		if err := fresh.Set(b.name, b.v); !errors.As(err, &ie) || ie.Field != b.name {
			t.Errorf("Set(%s, %#v) = %v, want an error naming the key", b.name, b.v, err)
		}
		if len(fresh.Flags()) != 0 {
			t.Errorf("Set(%s, %#v) refused but set %v", b.name, b.v, fresh.Flags())
		}
	}

	// A copy is set on its own (the planner copies a profile's section into every run).
	base := Overrides{}
	if err := base.Set("max_threads", 8); err != nil {
		t.Fatal(err)
	}
	run := base
	if err := run.Set("max_threads", 16); err != nil {
		t.Fatal(err)
	}
	if err := run.Set("work_time", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n, _ := base.Int("max_threads"); n != 8 || len(base.Flags()) != 1 {
		t.Errorf("original after setting a copy: %v", base.Flags())
	}
	if n, _ := run.Int("max_threads"); n != 16 {
		t.Errorf("copy: %v", run.Flags())
	}
	if d, ok := run.Duration("work_time"); !ok || d != 200*time.Millisecond {
		t.Errorf("copy's work_time = %v, %v", d, ok)
	}
	if _, ok := base.Get("work_time"); ok {
		t.Error("the original sets work_time, set only in its copy")
	}
}

// A profile's section with every key it may set: decoded, checked, applied onto the defaults,
// rendered as the child's flags and read back from them, it is the same config.
func TestOverridesRoundTrip(t *testing.T) {
	o, err := Decode("server", profileExamples(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Check("server"); err != nil {
		t.Fatal(err)
	}
	c := Defaults()
	c.Topology = Split
	o.Apply(&c)
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatalf("the examples do not go together: %v", err)
	}
	var profileKeys []string
	for _, k := range Keys() {
		if k.Profile {
			profileKeys = append(profileKeys, k.Name)
			if got := k.Get(&c); got != k.Example() {
				t.Errorf("%s = %v, want %v", k.Name, got, k.Example())
			}
		}
	}
	if !slices.Contains(profileKeys, "tcp_keepalive") || len(profileKeys) < 19 {
		t.Errorf("profile keys %v", profileKeys)
	}
	if got := len(o.Flags()); got != len(profileKeys) {
		t.Errorf("%d flags for %d keys: %v", got, len(profileKeys), o.Flags())
	}

	// The child's command line, read back flag by flag.
	back := Defaults()
	for _, f := range c.Flags() {
		name, value, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		k := keyByFlag(t, name)
		if err := k.SetText(&back, value); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if back != c {
		t.Errorf("flags %v read back as\n%+v, want\n%+v", c.Flags(), back, c)
	}

	// config.json's load_profile.server, read back.
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `{"runtime":"gunicorn","connector":"bio","max_threads":16,`) || !strings.Contains(string(data), `"static":{"server":"nginx"}`) {
		t.Errorf("JSON %s", data)
	}
	var again Overrides
	if err := json.Unmarshal(data, &again); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Flags(), o.Flags()) {
		t.Errorf("JSON round trip: %v, want %v", again.Flags(), o.Flags())
	}
	if data, _ := json.Marshal(Overrides{}); string(data) != "{}" {
		t.Errorf("empty section as JSON: %s", data)
	}
}

func keyByFlag(t *testing.T, flag string) Key {
	t.Helper()
	for _, k := range Keys() {
		if k.FlagName() == flag {
			return k
		}
	}
	t.Fatalf("no key for --%s", flag)
	return Key{}
}

// Mistakes in a profile's section name the key under the section, the value and what is
// allowed.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		raw     any
		field   string
		allowed string
	}{
		{"not a mapping", "lots", "server", "a mapping with keys runtime, connector, max_threads"},
		{"unknown key", map[string]any{"max_thread": 4}, "server.max_thread", "max_threads"},
		{"serve-only key", map[string]any{"topology": "split"}, "server.topology", "a key of the server section"},
		{"static not a mapping", map[string]any{"static": "nginx"}, "server.static", "a mapping with keys server"},
		{"unknown nested key", map[string]any{"static": map[string]any{"url": "http://x"}}, "server.static.url", "connector"},
		{"quoted number", map[string]any{"max_threads": "16"}, "server.max_threads", "a whole number"},
		{"fraction", map[string]any{"max_threads": 16.5}, "server.max_threads", "a whole number"},
		{"bare duration", map[string]any{"work_time": 100}, "server.work_time", "a bare number has no unit"},
		{"yes for a boolean", map[string]any{"tcp_keepalive": "yes"}, "server.tcp_keepalive", "true or false"},
		{"number for a word", map[string]any{"connector": 5}, "server.connector", "a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode("server", tt.raw)
			var ie *invalid.Error
			if !errors.As(err, &ie) || ie.Field != tt.field || !strings.Contains(ie.Allowed, tt.allowed) {
				t.Fatalf("Decode = %v, want %s allowing %q", err, tt.field, tt.allowed)
			}
		})
	}
	if o, err := Decode("server", map[string]any{"connect_timeout": 0}); err != nil || !slices.Equal(o.Flags(), []string{"--connect-timeout=0s"}) {
		t.Errorf("bare 0 duration: %v", err)
	}
}

// A profile refuses what sim serve refuses, and nofile 0, which sim serve takes for "leave the
// limit as it is".
func TestCheckProfileAndServe(t *testing.T) {
	nofile, _ := LookupKey("nofile")
	if err := nofile.Check(0); err != nil {
		t.Errorf("serve nofile 0: %v", err)
	}
	var o Overrides
	if err := o.Set("nofile", 0); err != nil {
		t.Fatal(err)
	}
	err := o.Check("server")
	var ie *invalid.Error
	if !errors.As(err, &ie) || ie.Field != "server.nofile" {
		t.Errorf("profile nofile 0: %v", err)
	}
	o = Overrides{}
	if err := o.Set("max_threads", 1_000_000); err != nil {
		t.Fatal(err)
	}
	if err := o.Check("server"); err == nil || !strings.Contains(err.Error(), "1 to 10000") {
		t.Errorf("profile max_threads 1e6: %v", err)
	}
	o = Overrides{}
	if err := o.Set("keep_alive_timeout", -time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	if err := o.Check("server"); err == nil {
		t.Error("keep_alive_timeout -1ns (the internal unset mark) accepted")
	}
	ka, _ := LookupKey("keep_alive_timeout")
	c := Defaults()
	if err := ka.SetText(&c, "-1ns"); err == nil {
		t.Error("--keep-alive-timeout=-1ns accepted")
	}
}

// Unknown keys of a --config file, sorted, nested ones by their dotted names.
func TestUnknown(t *testing.T) {
	got := Unknown(map[string]any{
		"max_threads": 4, "zeta": 1, "alpha": 2,
		"static": map[string]any{"server": "nginx", "kind": "x"},
	})
	if want := []string{"alpha", "static.kind", "zeta"}; !slices.Equal(got, want) {
		t.Errorf("Unknown = %v, want %v", got, want)
	}
	if v, ok := Lookup(map[string]any{"static": map[string]any{"server": "nginx"}}, "static.server"); !ok || v != "nginx" {
		t.Errorf("Lookup = %v, %v", v, ok)
	}
}

func TestDefaultsValidate(t *testing.T) {
	c := Defaults()
	if c.Topology != Self || c.MaxThreads != DefaultMaxThreads || c.KeepAliveTimeout != unsetKeepAlive || c.Static.Server != Embedded {
		t.Errorf("defaults %+v", c)
	}
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.KeepAliveTimeout != DefaultConnectionTimeout {
		t.Errorf("keep_alive_timeout normalized to %v", c.KeepAliveTimeout)
	}
}
