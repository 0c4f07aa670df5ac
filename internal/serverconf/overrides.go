package serverconf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// Overrides is a profile's server section: the keys it sets (Key.Profile) with their values,
// kept by key name, each of its key's Go type (string, int, bool or time.Duration). A key not
// set keeps the server's default; the zero Overrides sets nothing. What a key is called, what
// it takes and what it means is its entry in Keys: nothing here names a key, so a new profile
// key needs only that entry and its Config field.
//
// An Overrides is a value: a copy (a profile's section copied into each planned run) may be set
// without changing the original, as Set never writes a map that another copy may hold.
type Overrides struct {
	// vals maps a set key's name to its value. It is copied on every write (put), never
	// written in place, so that copies of an Overrides may share it.
	vals map[string]any
}

// Set sets the profile key name to v, which must be of the key's Go type (Key.Kind: a string,
// an int, a bool or a time.Duration; an untyped constant 16 is an int, not a duration). The
// value is not checked against what the key allows: Check does that for the whole section.
// The error is an *invalid.Error naming the key when it is no key of a profile's server
// section or v is of another type.
func (o *Overrides) Set(name string, v any) error {
	k, ok := LookupKey(name)
	if !ok || !k.Profile {
		return invalid.Field(name, v, "a key of a profile's server section: "+strings.Join(profileKeyNames(), ", "))
	}
	if !k.is(v) {
		return invalid.Field(name, v, fmt.Sprintf("a value of Go type %T", k.def))
	}
	o.put(k, v)
	return nil
}

// Get returns the value o sets for the key name, and whether it sets one.
func (o Overrides) Get(name string) (any, bool) {
	v, ok := o.vals[name]
	return v, ok
}

// Int returns the value o sets for name, a key of Kind Int, and whether it sets one.
func (o Overrides) Int(name string) (int, bool) {
	n, ok := o.vals[name].(int)
	return n, ok
}

// Duration returns the value o sets for name, a key of Kind Duration, and whether it sets one.
func (o Overrides) Duration(name string) (time.Duration, bool) {
	d, ok := o.vals[name].(time.Duration)
	return d, ok
}

// put sets k to v, a value of its type, in a fresh copy of the map: a copy of o made before
// keeps its values.
func (o *Overrides) put(k Key, v any) {
	vals := maps.Clone(o.vals)
	if vals == nil {
		vals = map[string]any{}
	}
	vals[k.Name] = v
	o.vals = vals
}

// profileKeyNames lists the dotted names of the keys a profile may set, in Keys order.
func profileKeyNames() []string {
	var names []string
	for _, k := range Keys() {
		if k.Profile {
			names = append(names, k.Name)
		}
	}
	return names
}

// set calls f with every key o sets, in Keys order.
func (o Overrides) set(f func(k Key, v any)) {
	if len(o.vals) == 0 {
		return
	}
	for _, k := range Keys() {
		if !k.Profile {
			continue
		}
		if v, ok := o.vals[k.Name]; ok {
			f(k, v)
		}
	}
}

// Apply sets in c every key o sets.
func (o Overrides) Apply(c *Config) {
	o.set(func(k Key, v any) { k.set(c, v) })
}

// Flags returns `--kebab-case=value` flags for the keys o sets, in Keys order, so that the
// command line of a `sim serve` child is the same from run to run. Durations use Go syntax.
func (o Overrides) Flags() []string {
	var f []string
	o.set(func(k Key, v any) { f = append(f, "--"+k.FlagName()+"="+k.Format(v)) })
	return f
}

// Check returns an *invalid.Error for the first key o sets to a value a profile may not hold,
// its Field the key under section ("server.max_threads"). Values that contradict another key
// are refused when the section is applied onto a config (Config.Validate), which knows them all.
func (o Overrides) Check(section string) error {
	var err error
	o.set(func(k Key, v any) {
		if err != nil {
			return
		}
		if allowed, ok := k.profileCheck(v); !ok {
			err = invalid.Field(join(section, k.Name), v, allowed)
		}
	})
	return err
}

// Decode reads a profile's server section, raw as yamldoc decodes it, with Field names under
// section ("server.work_time"). It reads types only (Key.ParseValue); Check checks the values.
func Decode(section string, raw any) (Overrides, error) {
	var o Overrides
	if raw == nil {
		return o, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return o, invalid.Field(section, raw, "a mapping with keys "+strings.Join(ProfileKeysAt(""), ", "))
	}
	if names := unknownProfileKeys(m, ""); len(names) > 0 {
		return o, invalid.Field(join(section, names[0]), names[0], "a key of the "+section+" section: "+strings.Join(ProfileKeysAt(""), ", "))
	}
	for _, k := range Keys() {
		if !k.Profile {
			continue
		}
		// A section written as something else than a mapping ("static: nginx").
		if parent, _, nested := cutLast(k.Name); nested {
			if v, ok := Lookup(m, parent); ok {
				if _, isMap := v.(map[string]any); !isMap {
					return o, invalid.Field(join(section, parent), v, "a mapping with keys "+strings.Join(ProfileKeysAt(parent), ", "))
				}
			}
		}
		v, ok := Lookup(m, k.Name)
		if !ok {
			continue
		}
		x, err := k.ParseValue(v)
		if err != nil {
			if ie, ok := err.(*invalid.Error); ok {
				ie.Field = join(section, ie.Field)
			}
			return o, err
		}
		o.put(k, x)
	}
	return o, nil
}

// unknownProfileKeys is Unknown for the keys a profile may set.
func unknownProfileKeys(m map[string]any, prefix string) []string {
	var out []string
	for name, v := range m {
		full := join(prefix, name)
		if k, ok := LookupKey(full); ok && k.Profile {
			continue
		}
		if isSection(full, true) {
			if sub, ok := v.(map[string]any); ok {
				out = append(out, unknownProfileKeys(sub, full)...)
			}
			continue
		}
		out = append(out, full)
	}
	slices.Sort(out)
	return out
}

// ProfileKeysAt lists the names a profile's server section takes directly under the mapping
// prefix ("" for the section itself, "static" for its static mapping), keys and mappings, in
// Keys order.
func ProfileKeysAt(prefix string) []string {
	var names []string
	for _, k := range Keys() {
		if !k.Profile {
			continue
		}
		rest := k.Name
		if prefix != "" {
			var ok bool
			if rest, ok = strings.CutPrefix(k.Name, prefix+"."); !ok {
				continue
			}
		}
		first, _, _ := strings.Cut(rest, ".")
		if !slices.Contains(names, first) {
			names = append(names, first)
		}
	}
	return names
}

// IsProfileKey reports whether a profile's server section takes the dotted key name.
func IsProfileKey(name string) bool {
	k, ok := LookupKey(name)
	return ok && k.Profile
}

// IsProfileSection reports whether name is a mapping of a profile's server section ("static").
func IsProfileSection(name string) bool { return isSection(name, true) }

// cutLast splits "static.server" into "static" and "server".
func cutLast(name string) (parent, last string, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", name, false
	}
	return name[:i], name[i+1:], true
}

// MarshalJSON writes the keys o sets as nested JSON objects in Keys order, durations in
// nanoseconds as config.json holds every duration: {"max_threads": 16, "static": {"server":
// "nginx"}}.
func (o Overrides) MarshalJSON() ([]byte, error) {
	root := &jsonObject{}
	o.set(func(k Key, v any) { root.put(strings.Split(k.Name, "."), v) })
	var b bytes.Buffer
	if err := root.write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Overrides) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("server overrides: %w", err)
	}
	*o = Overrides{}
	for _, k := range Keys() {
		if !k.Profile {
			continue
		}
		raw, ok := Lookup(m, k.Name)
		if !ok {
			continue
		}
		v, err := fromJSON(k, raw)
		if err != nil {
			return fmt.Errorf("server overrides: %s: %w", k.Name, err)
		}
		o.put(k, v)
	}
	return nil
}

func fromJSON(k Key, raw any) (any, error) {
	if n, ok := raw.(json.Number); ok {
		i, err := n.Int64()
		if err != nil {
			return nil, err
		}
		switch k.Kind {
		case Duration:
			return time.Duration(i), nil
		case Int:
			return k.ParseValue(i)
		}
	}
	return k.ParseValue(raw)
}

// jsonObject is a JSON object that keeps its keys in insertion order.
type jsonObject struct {
	keys []string
	vals map[string]any // a value, or a *jsonObject
}

func (j *jsonObject) put(path []string, v any) {
	if j.vals == nil {
		j.vals = map[string]any{}
	}
	name := path[0]
	if _, ok := j.vals[name]; !ok {
		j.keys = append(j.keys, name)
	}
	if len(path) == 1 {
		j.vals[name] = v
		return
	}
	sub, _ := j.vals[name].(*jsonObject)
	if sub == nil {
		sub = &jsonObject{}
		j.vals[name] = sub
	}
	sub.put(path[1:], v)
}

func (j *jsonObject) write(b *bytes.Buffer) error {
	b.WriteByte('{')
	for i, name := range j.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(name)
		b.Write(kb)
		b.WriteByte(':')
		if sub, ok := j.vals[name].(*jsonObject); ok {
			if err := sub.write(b); err != nil {
				return err
			}
			continue
		}
		vb, err := json.Marshal(j.vals[name])
		if err != nil {
			return err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return nil
}

// ParseSetting reads one `key=value` setting of a profile's server keys, as a command line
// takes it (sim plan --server admission=reject), into o. The value is read as a flag reads it
// (Key.ParseText) and checked as a profile's value is; the error names field and the setting.
func (o *Overrides) ParseSetting(field, setting string) error {
	name, text, ok := strings.Cut(setting, "=")
	k, known := LookupKey(strings.TrimSpace(name))
	if !ok || !known || !k.Profile {
		return invalid.Field(field, setting, "key=value with a key of a profile's server section: "+strings.Join(ProfileKeysAt(""), ", "))
	}
	v, err := k.ParseText(strings.TrimSpace(text))
	if err != nil {
		return invalid.Field(field, setting, fmt.Sprintf("%s=VALUE with a value as its flag --%s takes, e.g. %s=%s", k.Name, k.FlagName(), k.Name, k.Format(k.example)))
	}
	if allowed, ok := k.profileCheck(v); !ok {
		return invalid.Field(field, setting, k.Name+": "+allowed)
	}
	o.put(k, v)
	return nil
}

// Settings returns the keys o sets, by name, with their values as flags write them.
func (o Overrides) Settings() map[string]string {
	out := map[string]string{}
	o.set(func(k Key, v any) { out[k.Name] = k.Format(v) })
	return out
}
