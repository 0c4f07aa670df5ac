package loadprofiles

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"

	"github.com/simdev/sim/internal/invalid"
	"github.com/spf13/viper"
)

// builtinFS holds the built-in profiles. A package-level variable because go:embed needs one;
// it is read-only.
//
//go:embed builtin/*.yaml
var builtinFS embed.FS

const builtinDir = "builtin"

// Builtin returns the names of the built-in profiles, sorted.
func Builtin() []string {
	entries, err := fs.ReadDir(builtinFS, builtinDir)
	if err != nil {
		// The directory is embedded at build time; it cannot be missing at run time.
		panic(fmt.Sprintf("loadprofiles: embedded profiles: %v", err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// BuiltinDescription returns the one-line description of a built-in profile, for listings; ok is
// false when there is no built-in profile of that name.
func BuiltinDescription(name string) (description string, ok bool) {
	if !isBuiltinName(name) {
		return "", false
	}
	data, err := builtinFS.ReadFile(builtinDir + "/" + name + ".yaml")
	if err != nil {
		return "", false
	}
	p, err := Parse(name, data)
	if err != nil {
		return "", false
	}
	return p.Description, true
}

// Load returns the profile nameOrPath names, normalized and validated. A bare name (no path
// separator, no .yaml or .yml suffix) selects a built-in profile; anything else is read as a
// file. Which profile to load is the caller's input (a flag), so errors about it leave Source
// empty for the caller to fill; errors inside a file carry the path as Source.
func Load(nameOrPath string) (*Profile, error) {
	if isBuiltinName(nameOrPath) {
		data, err := builtinFS.ReadFile(builtinDir + "/" + nameOrPath + ".yaml")
		if err != nil {
			return nil, &invalid.Error{Field: "profile", Value: nameOrPath, Allowed: allowedProfiles()}
		}
		return Parse(nameOrPath, data)
	}
	data, err := os.ReadFile(nameOrPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &invalid.Error{Field: "profile", Value: nameOrPath,
			Allowed: "an existing YAML file, or " + allowedProfiles()}
	case errors.Is(err, syscall.EISDIR):
		return nil, &invalid.Error{Field: "profile", Value: nameOrPath,
			Allowed: "a YAML file, not a directory, or " + allowedProfiles()}
	case err != nil:
		return nil, fmt.Errorf("read profile %q: %w", nameOrPath, err)
	}
	return Parse(nameOrPath, data)
}

func allowedProfiles() string {
	return "one of " + strings.Join(Builtin(), ", ") + ", or a path to a YAML file"
}

func isBuiltinName(s string) bool {
	lower := strings.ToLower(s)
	return !strings.ContainsRune(s, '/') && !strings.ContainsRune(s, filepath.Separator) &&
		!strings.HasSuffix(lower, ".yaml") && !strings.HasSuffix(lower, ".yml")
}

// Parse reads a profile from YAML. name is the profile's name or its file path: it is the Source
// of every error, and its base name without extension is the profile's Name when the YAML sets
// none. The result is normalized and validated.
//
// Keys the schema does not know are rejected rather than ignored, since a misspelt key
// ("tagret") would otherwise silently run a different load than the one written. Durations
// need a unit ("10s"): a bare number other than 0 is rejected, because "duration: 10" could mean
// seconds or, as Go reads it, nanoseconds.
func Parse(name string, data []byte) (*Profile, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, syntaxError(name, err)
	}
	raw := v.AllSettings()
	if len(raw) == 0 {
		return nil, &invalid.Error{Field: "profile", Value: nil, Source: name,
			Allowed: "a YAML mapping with at least a stages list, e.g. stages: [{duration: 10s, target: 40}]"}
	}
	// Checked before decoding so that the error can say which keys are allowed where, and
	// suggest the nearest one.
	if err := checkKeys(raw, reflect.TypeFor[Profile](), ""); err != nil {
		err.Source = name
		return nil, err
	}
	if err := requireTargets(raw); err != nil {
		err.Source = name
		return nil, err
	}
	// Decoding onto the defaults leaves them in place for keys the file omits, while a key set
	// to 0 stays 0 and is validated as written: "timeout: 0" must not silently become 2s.
	p := defaults()
	if err := v.UnmarshalExact(&p, decoderConfig); err != nil {
		return nil, decodeError(name, raw, err)
	}
	if p.Name == "" {
		p.Name = baseName(name)
	}
	if err := p.validate(name); err != nil {
		return nil, err
	}
	p.Normalize()
	return &p, nil
}

func baseName(name string) string {
	base := filepath.Base(name)
	for _, ext := range []string{".yaml", ".yml", ".YAML", ".YML"} {
		base = strings.TrimSuffix(base, ext)
	}
	return base
}

// syntaxError turns a YAML parse error into an *invalid.Error. The parser's message already
// names the line; only viper's and the parser's prefixes are dropped.
func syntaxError(source string, err error) error {
	var pe viper.ConfigParseError
	if errors.As(err, &pe) {
		if inner := pe.Unwrap(); inner != nil {
			err = inner
		}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	msg = strings.ReplaceAll(msg, ":;", ":")
	return &invalid.Error{Field: "yaml", Value: msg, Source: source,
		Allowed: "well-formed YAML: a mapping with keys " + strings.Join(keysOf(reflect.TypeFor[Profile]()), ", ")}
}

// requireTargets rejects a stage that leaves out its target. Decoded, it would be 0 and valid,
// so a stage written as "- duration: 10s" would quietly ramp the load down to nothing.
func requireTargets(raw map[string]any) *invalid.Error {
	stages, _ := raw["stages"].([]any)
	for i, s := range stages {
		m, ok := s.(map[string]any)
		if !ok {
			continue // the decoder reports the wrong shape
		}
		if v, ok := m["target"]; !ok || v == nil {
			return &invalid.Error{Field: fmt.Sprintf("stages[%d].target", i), Value: nil,
				Allowed: "a rate >= 0 requests/second; every stage needs one"}
		}
	}
	return nil
}
