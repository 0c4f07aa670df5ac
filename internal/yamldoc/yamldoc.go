// Package yamldoc decodes the YAML documents a user writes for sim (a profile, a `serve --config`
// file) into maps, the way yaml.Unmarshal into a map[string]any would, but strictly and in time
// linear in the document's size:
//
//   - a key that appears twice in one mapping, or two keys that differ only in case, are an
//     error naming both, with their lines. sim reads keys case-insensitively (viper folds them,
//     mapstructure matches fields regardless of case), so "target: 5" and "Target: 4999" would
//     set the same field and one of them would be dropped without a word;
//   - yaml.v3's own duplicate check compares every pair of keys of a mapping: 100,000 keys took
//     minutes. Here the keys go through a map, once each;
//   - aliases may not refer to the value that holds them, and may not expand the document beyond
//     MaxValues values (the "billion laughs").
//
// Keys of the result are lower case, as viper makes them; errors name keys as written.
package yamldoc

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/simdev/sim/internal/invalid"
)

// MaxValues caps the values (scalars, lists, mappings) Decode builds from one document. Written
// out, a value takes at least three bytes ("1, "), so a document within the callers' size caps
// (1 MiB at most) holds under 350,000; more can only come from aliases expanding into each
// other, a way to exhaust memory and time rather than a configuration.
const MaxValues = 1 << 19

// MaxDepth caps how deep values nest, aliases expanded: yaml.v3 itself refuses documents nested
// deeper than 10,000 levels, and a configuration needs a handful.
const MaxDepth = 10_000

// Decode parses data, the first YAML document in it, whose root must be a mapping. An empty
// document (or comments only, or null) gives an empty map. Every error is an *invalid.Error:
// Field "yaml" for a document that is not well-formed, otherwise the path of the offending key
// ("stages[0].target").
func Decode(data []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &invalid.Error{Field: "yaml", Value: syntaxMessage(err), Allowed: "well-formed YAML"}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return map[string]any{}, nil
	}
	root := deref(doc.Content[0])
	switch {
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
		return map[string]any{}, nil
	case root.Kind != yaml.MappingNode:
		return nil, &invalid.Error{Field: "yaml", Value: fmt.Sprintf("a document that is %s (line %d)", what(root), root.Line),
			Allowed: "a mapping of keys to values at the top level"}
	}
	d := &decoder{active: map[*yaml.Node]bool{}}
	return d.mapping(root, nil)
}

// syntaxMessage is the parser's message on one line without its "yaml: " prefix; it names the
// line.
func syntaxMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	return strings.ReplaceAll(msg, ":;", ":")
}

type decoder struct {
	values int
	depth  int
	// active holds the alias targets being decoded, to catch an alias inside its own anchor.
	active map[*yaml.Node]bool
}

// path is where a value is in the document, built as a chain and rendered only for an error
// ("stages[0].target"), so that decoding a value costs no string formatting.
type path struct {
	parent *path
	key    string
	index  int // a list index when key is ""
}

func (p *path) String() string {
	if p == nil {
		return ""
	}
	if p.key == "" {
		return fmt.Sprintf("%s[%d]", p.parent, p.index)
	}
	return join(p.parent.String(), p.key)
}

func (d *decoder) value(n *yaml.Node, at *path) (any, error) {
	d.values++
	if d.values > MaxValues {
		return nil, &invalid.Error{Field: orTop(at.String()), Value: fmt.Sprintf("aliases that expand to more than %d values", MaxValues),
			Allowed: "a document that does not multiply itself through aliases"}
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > MaxDepth {
		return nil, &invalid.Error{Field: orTop(at.String()), Value: fmt.Sprintf("values nested more than %d deep", MaxDepth),
			Allowed: "a document nested a few levels deep"}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, &invalid.Error{Field: orTop(at.String()), Value: "*" + n.Value, Allowed: "an alias to an anchor defined before it"}
		}
		if d.active[n.Alias] {
			return nil, &invalid.Error{Field: orTop(at.String()), Value: fmt.Sprintf("*%s (line %d)", n.Value, n.Line),
				Allowed: "an alias outside the value its anchor names: this one would contain itself"}
		}
		d.active[n.Alias] = true
		defer delete(d.active, n.Alias)
		return d.value(n.Alias, at)
	case yaml.MappingNode:
		return d.mapping(n, at)
	case yaml.SequenceNode:
		list := make([]any, len(n.Content))
		for i, el := range n.Content {
			v, err := d.value(el, &path{parent: at, index: i})
			if err != nil {
				return nil, err
			}
			list[i] = v
		}
		return list, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return n.Value, nil
		case "!!null":
			return nil, nil
		case "!!int":
			// The common case, a plain decimal, without a decoder per scalar; anything else
			// (0x10, 1_000, beyond int) is left to yaml.v3 below.
			if i, err := strconv.Atoi(n.Value); err == nil && strconv.Itoa(i) == n.Value {
				return i, nil
			}
		case "!!float":
			// ParseFloat refuses YAML's .inf and .nan and underscores: those go to yaml.v3.
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
				return f, nil
			}
		}
		// Everything else is resolved by yaml.v3 itself, one scalar at a time, so that it reads
		// exactly as yaml.Unmarshal would read it.
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, &invalid.Error{Field: orTop(at.String()), Value: n.Value, Allowed: "a value YAML can read (" + syntaxMessage(err) + ")"}
		}
		return v, nil
	}
	return nil, &invalid.Error{Field: orTop(at.String()), Value: fmt.Sprintf("node kind %d", n.Kind), Allowed: "a mapping, a list or a scalar"}
}

// seenKey is a key of a mapping as written, for messages.
type seenKey struct {
	name string
	line int
}

// keyPair is two keys of one mapping that sim would read as one.
type keyPair struct{ a, b seenKey }

func (p keyPair) String() string {
	if p.a.name == p.b.name {
		return fmt.Sprintf("%q twice (lines %d and %d)", p.a.name, p.a.line, p.b.line)
	}
	return fmt.Sprintf("%q (line %d) and %q (line %d)", p.a.name, p.a.line, p.b.name, p.b.line)
}

func (d *decoder) mapping(n *yaml.Node, at *path) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	seen := make(map[string]seenKey, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, &invalid.Error{Field: orTop(at.String()), Value: fmt.Sprintf("a key that is %s (line %d)", what(k), k.Line),
				Allowed: "keys that are words, such as max_threads"}
		}
		name := k.Value
		fold := strings.ToLower(name)
		if prev, ok := seen[fold]; ok {
			pair := keyPair{prev, seenKey{name, k.Line}}
			allowed := "each key once in a mapping"
			if prev.name != name {
				allowed = "one of them: keys are read regardless of case, so both would set " + join(at.String(), fold) + " and one would be ignored"
			}
			return nil, &invalid.Error{Field: join(at.String(), fold), Value: pair, Allowed: allowed}
		}
		seen[fold] = seenKey{name, k.Line}
		val, err := d.value(v, &path{parent: at, key: name})
		if err != nil {
			return nil, err
		}
		out[fold] = val
	}
	// YAML's merge key ("<<: *defaults"): the merged mappings fill only the keys this mapping
	// does not set itself, and of a list of them the first to set a key wins.
	for _, m := range merges {
		for _, src := range mergeSources(m) {
			if t := deref(src); t.Kind != yaml.MappingNode {
				return nil, &invalid.Error{Field: join(at.String(), "<<"), Value: fmt.Sprintf("%s (line %d)", what(t), t.Line),
					Allowed: "a mapping, an alias to one, or a list of them"}
			}
			merged, err := d.value(src, at)
			if err != nil {
				return nil, err
			}
			for k, v := range merged.(map[string]any) {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	return out, nil
}

// mergeSources lists the values a merge key takes its keys from, aliases kept as they are so
// that decoding them checks for cycles.
func mergeSources(n *yaml.Node) []*yaml.Node {
	if t := deref(n); t.Kind == yaml.SequenceNode {
		return t.Content
	}
	return []*yaml.Node{n}
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// what says what kind of YAML value n is, for messages.
func what(n *yaml.Node) string {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar (" + strings.TrimPrefix(n.ShortTag(), "!!") + ")"
	}
	return "empty"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "yaml"
	}
	return path
}
