package loadprofiles

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/simdev/sim/internal/invalid"
)

// decoderConfig makes the decoding strict: mapstructure's weak typing would read
// "keepalive: 1" as true and "target: '40'" as 40, and would take "duration: 10" as 10ns.
func decoderConfig(c *mapstructure.DecoderConfig) {
	c.DecodeHook = strictHook
	c.WeaklyTypedInput = false
	c.ErrorUnused = true
	c.ZeroFields = false
}

// wantError is a decode hook's verdict: the value is not of the kind the field takes.
type wantError struct{ want string }

func (e *wantError) Error() string { return "expected " + e.want }

const durationWords = "a duration such as 10s or 250ms"

// strictHook parses durations and refuses what mapstructure would silently truncate.
func strictHook(_ reflect.Type, to reflect.Type, data any) (any, error) {
	if v, ok, err := fractionHook(to, data); ok {
		return v, err
	}
	if to == reflect.TypeFor[time.Duration]() {
		switch d := data.(type) {
		case string:
			v, err := time.ParseDuration(strings.TrimSpace(d))
			if err != nil {
				return nil, &wantError{durationWords}
			}
			return v, nil
		case int, int64, uint64, float64:
			// 0 needs no unit; any other bare number is ambiguous (seconds? Go's nanoseconds?).
			if reflect.ValueOf(d).IsZero() {
				return time.Duration(0), nil
			}
			return nil, &wantError{durationWords + " (a bare number has no unit)"}
		}
		return data, nil
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		// mapstructure truncates 16.5 to 16 without a word.
		if f, ok := data.(float64); ok {
			if f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
				return nil, &wantError{"a whole number"}
			}
			return int64(f), nil
		}
	}
	return data, nil
}

// checkKeys returns an *invalid.Error for the first key (in sorted order, depth first) of raw
// that the struct type t has no field for. raw comes from yamldoc, so its keys are lower case.
func checkKeys(raw map[string]any, t reflect.Type, path string) *invalid.Error {
	for _, k := range sortedKeys(raw) {
		field, ok := fieldByKey(t, k)
		if !ok {
			return unknownKey(t, path, k)
		}
		ft := deref(field.Type)
		switch {
		case ft == reflect.TypeFor[Server]():
			// The server's keys are the server's schema's, not this struct's fields.
			if m, ok := raw[k].(map[string]any); ok {
				if err := checkServerKeys(m, join(path, k), ""); err != nil {
					return err
				}
			}
		case ft.Kind() == reflect.Struct:
			if m, ok := raw[k].(map[string]any); ok {
				if err := checkKeys(m, ft, join(path, k)); err != nil {
					return err
				}
			}
		case ft.Kind() == reflect.Slice && deref(ft.Elem()).Kind() == reflect.Struct:
			list, _ := raw[k].([]any)
			for i, el := range list {
				if m, ok := el.(map[string]any); ok {
					if err := checkKeys(m, deref(ft.Elem()), fmt.Sprintf("%s[%d]", join(path, k), i)); err != nil {
						return err
					}
				}
			}
		}
		// Anything else, or a value of the wrong shape, is left to the decoder to report.
	}
	return nil
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func unknownKey(t reflect.Type, path, key string) *invalid.Error {
	return unknownKeyIn(path, key, keysOf(t))
}

// unknownKeyIn is the error for key, unknown in the mapping at path, whose keys are known.
func unknownKeyIn(path, key string, known []string) *invalid.Error {
	where := path
	if where == "" {
		where = "the top level"
	}
	allowed := "a key of " + where + ": " + strings.Join(known, ", ")
	if key == "" {
		return &invalid.Error{Field: join(path, `""`), Value: "an empty key", Allowed: allowed}
	}
	if near := nearest(key, known); near != "" {
		allowed += " (did you mean " + near + "?)"
	}
	return &invalid.Error{Field: join(path, key), Value: key, Allowed: allowed}
}

// decodeError turns the decoder's error into an *invalid.Error for the first field it names,
// with the value as the user wrote it (looked up in raw) and the kind of value the field takes.
func decodeError(source string, raw map[string]any, err error) error {
	de := firstDecodeError(err)
	if de == nil {
		return &invalid.Error{Field: "profile", Value: err.Error(), Allowed: "a profile as documented", Source: source}
	}
	field := de.Name()
	allowed := ""
	var we *wantError
	if errors.As(de, &we) {
		allowed = we.want
	} else if t, ok := typeAt(reflect.TypeFor[Profile](), field); ok {
		allowed = describe(t)
	} else {
		allowed = de.Unwrap().Error()
	}
	value, _ := lookup(raw, field)
	return &invalid.Error{Field: field, Value: value, Allowed: allowed, Source: source}
}

// firstDecodeError finds the innermost *mapstructure.DecodeError in err's tree; mapstructure
// joins the errors of all fields, in field order.
func firstDecodeError(err error) *mapstructure.DecodeError {
	if err == nil {
		return nil
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			if de := firstDecodeError(e); de != nil {
				return de
			}
		}
		return nil
	}
	if de, ok := err.(*mapstructure.DecodeError); ok {
		if inner := firstDecodeError(de.Unwrap()); inner != nil {
			return inner
		}
		return de
	}
	return firstDecodeError(errors.Unwrap(err))
}

// describe says in words what kind of value a field of type t takes.
func describe(t reflect.Type) string {
	t = deref(t)
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return durationWords
	case t == reflect.TypeFor[Mode]():
		return "one of ramp, hold"
	case t == reflect.TypeFor[Arrivals]():
		return "one of uniform, poisson"
	}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list of mappings with keys " + strings.Join(keysOf(deref(t.Elem())), ", ")
	case reflect.Struct:
		return "a mapping with keys " + strings.Join(keysOf(t), ", ")
	}
	return t.String()
}

// keysOf lists the mapstructure keys of a struct type in declaration (documentation) order.
func keysOf(t reflect.Type) []string {
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		keys = append(keys, tagOf(t.Field(i)))
	}
	return keys
}

func tagOf(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	if tag == "" {
		return strings.ToLower(f.Name)
	}
	return tag
}

// fieldByKey matches case-insensitively, as mapstructure does.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); strings.EqualFold(tagOf(f), key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// pathStep is one step of a field path as mapstructure names it: "stages[1].target" is
// stages, [1], target.
type pathStep struct {
	key   string
	index int // -1 for a key step
}

func splitPath(path string) []pathStep {
	var steps []pathStep
	for part := range strings.SplitSeq(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			steps = append(steps, pathStep{key: key, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if err != nil {
				break
			}
			steps = append(steps, pathStep{index: i})
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return steps
}

// lookup returns the raw value at a field path.
func lookup(raw map[string]any, path string) (any, bool) {
	var cur any = raw
	for _, s := range splitPath(path) {
		if s.index >= 0 {
			list, ok := cur.([]any)
			if !ok || s.index >= len(list) {
				return nil, false
			}
			cur = list[s.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		found := false
		for k, v := range m {
			if strings.EqualFold(k, s.key) {
				cur, found = v, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return cur, true
}

// typeAt returns the Go type of the field at a path.
func typeAt(t reflect.Type, path string) (reflect.Type, bool) {
	for _, s := range splitPath(path) {
		t = deref(t)
		if s.index >= 0 {
			if t.Kind() != reflect.Slice {
				return nil, false
			}
			t = t.Elem()
			continue
		}
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		f, ok := fieldByKey(t, s.key)
		if !ok {
			return nil, false
		}
		t = f.Type
	}
	return t, true
}

// nearest returns the known key closest to key when it is close enough to be a typo.
func nearest(key string, known []string) string {
	best, bestDist := "", len(key)/2+1
	if bestDist > 3 {
		bestDist = 3
	}
	for _, k := range known {
		if d := editDistance(key, k); d <= bestDist && (best == "" || d < editDistance(key, best)) {
			best = k
		}
	}
	return best
}

// editDistance is the Damerau (optimal string alignment) distance, so that a swap of two
// letters ("tagret") counts as one edit.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
