package yamldoc

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/simdev/sim/internal/invalid"
)

// Decode reads a document as yaml.Unmarshal does (keys lower-cased, as viper makes them).
func TestDecodeMatchesYAML(t *testing.T) {
	for _, doc := range []string{
		"stages: [{duration: 10s, target: 40}, {duration: 5s, target: 4.5, mode: hold}]\nseed: 7\n",
		"a: {b: [1, -2, 0x10, 1_000, 007, 1e3, 4.5, -.inf, .Inf, 1_0.5, 99999999999999999999, true, True, ~, '3', \"x\", !!float 3]}\nc: |\n  two\n  lines\n",
		"base: &b {max_threads: 4, work_time: 100ms}\nserver:\n  <<: *b\n  work_time: 200ms\n",
		"d: &d [1, 2]\ne: *d\n",
		"Max_Threads: 4\n",
	} {
		var want map[string]any
		if err := yaml.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatal(err)
		}
		got, err := Decode([]byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if w := lowerKeys(want); !reflect.DeepEqual(got, w) {
			t.Errorf("%q:\n got %v\nwant %v", doc, got, w)
		}
	}
	for _, empty := range []string{"", "# nothing\n", "~\n", "---\n"} {
		if got, err := Decode([]byte(empty)); err != nil || len(got) != 0 {
			t.Errorf("%q: %v, %v; want an empty map", empty, got, err)
		}
	}
}

func lowerKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[strings.ToLower(k)] = lowerKeys(e)
		}
		return m
	case []any:
		for i := range x {
			x[i] = lowerKeys(x[i])
		}
	}
	return v
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name, doc, field string
		want             []string
	}{
		{"keys differing in case", "max_threads: 4\nMAX_THREADS: 20000\n", "max_threads",
			[]string{`"max_threads" (line 1) and "MAX_THREADS" (line 2)`, "regardless of case"}},
		{"in a list of mappings", "stages: [{duration: 2s, target: 5, Target: 4999}]", "stages[0].target",
			[]string{`"target" (line 1) and "Target" (line 1)`}},
		{"nested", "server:\n  static:\n    server: a\n    SERVER: b\n", "server.static.server", []string{"line 3", "line 4"}},
		{"the same key twice", "a: 1\nb: 2\na: 3\n", "a", []string{`"a" twice (lines 1 and 3)`, "each key once"}},
		{"a list at the top", "- a\n- b\n", "yaml", []string{"a list", "a mapping"}},
		{"a scalar at the top", "hello\n", "yaml", []string{"a scalar (str)"}},
		{"malformed", "a:\n  - b\n c: d\n", "yaml", []string{"line 2", "did not find expected key"}},
		{"a mapping as a key", "? {a: 1}\n: x\n", "yaml", []string{"a key that is a mapping"}},
		{"an alias inside its anchor", "stages: &a [*a]\n", "stages[0]", []string{"*a", "contain itself"}},
		{"billion laughs", laughs(12), "l", []string{"more than 524288 values"}},
		{"merge of a scalar", "a: &x 1\nb: {<<: *x}\n", "b.<<", []string{"a scalar"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Decode([]byte(tt.doc))
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s", took)
			}
			var ie *invalid.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want an *invalid.Error", err, err)
			}
			if !strings.HasPrefix(ie.Field, tt.field) || ie.Allowed == "" {
				t.Errorf("Field %q, Allowed %q: want field %q and what is allowed (%v)", ie.Field, ie.Allowed, tt.field, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
}

// laughs is the "billion laughs": n levels of aliases, each listing the previous one ten times.
func laughs(n int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

// Merged keys fill only what the mapping leaves out; the first of several merged mappings wins.
func TestDecodeMerge(t *testing.T) {
	got, err := Decode([]byte("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc: {<<: [*a, *b], x: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := got["c"].(map[string]any)
	if c["x"] != 3 || c["y"] != 1 || c["z"] != 2 {
		t.Errorf("c = %v, want x 3 (its own), y 1 (first merge), z 2", c)
	}
}

// BenchmarkDecodeKeys decodes a mapping of N and of 4N keys: about 4 times as long for 4N.
func BenchmarkDecodeKeys(b *testing.B) {
	for _, n := range []int{25_000, 100_000} {
		var doc strings.Builder
		for i := range n {
			fmt.Fprintf(&doc, "k%d: %d\n", i, i)
		}
		data := []byte(doc.String())
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
